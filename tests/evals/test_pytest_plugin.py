"""`pytest evals/` collects suites as tests (one per metric), in a real pytest subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evals_helpers import FACTS, Project, knowing_responder, last_user

from llmops.testing import Reply, ScriptedLLMServer


def _pytest(
    project: Project, home: Path, *, opt_in: bool = True
) -> subprocess.CompletedProcess[str]:
    # The plugin is opt-in: `-p llmops.evals.pytest_plugin` (or the same in an ini's addopts).
    env = {**os.environ, "LLMOPS_HOME": str(home)}
    plugin = ["-p", "llmops.evals.pytest_plugin"] if opt_in else []
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            *plugin,
            "evals",
            "-rs",
            "-q",
        ],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_suites_are_collected_and_gated(
    project: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    def responder(body: dict[str, Any]) -> Reply:
        if last_user(body) == list(FACTS)[0]:
            return Reply(content="Wrong.")
        return knowing_responder(body)

    llm.set_responder(responder)
    make_suite(
        metrics=[
            {"type": "contains", "min": 0.95, "options": {"only": "answerable"}},
            {"type": "hallucination"},
            {"type": "judge", "value": "judge-x@draft", "metric": "judged"},
        ]
    )
    project.write(
        "prompts/judge-x.yaml",
        "name: judge-x\nvariables: {question: {type: string}, answer: {type: string}, contexts: {type: array}}\n"
        "messages:\n  - {role: user, content: 'Q {{ question }} A {{ answer }} - JSON verdict'}\n",
    )
    project.write("evals/guards/not-a-suite.yaml", "cases: []\n")
    out = _pytest(project, tmp_path / "home")
    assert "1 failed, 1 passed, 1 skipped" in out.stdout, out.stdout + out.stderr
    assert "contains fail (mean 0.833): mean 0.833 is below the minimum 0.950" in out.stdout
    assert "no judge configured" in out.stdout


def test_plugin_is_opt_in(
    project: Project, make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    # Installed but not asked for, the plugin must not load: a suite file is not collected.
    make_suite(metrics=[{"type": "contains"}])
    out = _pytest(project, tmp_path / "home", opt_in=False)
    assert "no tests ran" in out.stdout, out.stdout + out.stderr
    assert "llmops" not in out.stdout.split("no tests ran")[0].lower(), out.stdout
