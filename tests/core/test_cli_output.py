"""What the CLI prints where no terminal is attached (CI logs), and its help screens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the real `llmops` with stderr/stdout on pipes, as in CI, without COLUMNS set."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run(
        [sys.executable, "-m", "llmops", *args], capture_output=True, text=True, cwd=cwd, env=env
    )


def test_errors_and_hints_are_not_wrapped_in_ci_logs(tmp_path: Path) -> None:
    (tmp_path / "llmops.yaml").write_text("project: x\n", "utf-8")
    (tmp_path / "rag_pipelines").mkdir()
    name = "a-pipeline-name-long-enough-to-push-the-error-line-well-past-eighty-columns"
    (tmp_path / "rag_pipelines" / f"{name}s.yaml").write_text(
        f"name: {name}s\nsources: [{{path: docs}}]\n", "utf-8"
    )
    res = _run(["index", "run", name], tmp_path)
    assert res.returncode == 2
    lines = res.stderr.splitlines()
    assert lines == [
        f"error: no pipeline '{name}' in {tmp_path / 'rag_pipelines'} (did you mean '{name}s'?)",
        f"hint: known pipelines: {name}s",
    ]
    assert max(len(line) for line in lines) > 120  # long lines stay whole


@pytest.mark.parametrize(
    "command",
    [
        ["index", "run"],
        ["index", "status"],
        ["index", "rollback"],
        ["query"],
        ["eval", "run"],
        ["prompt", "label"],
        ["prompt", "unlabel"],
        ["prompt", "release"],
        ["prompt", "render"],
        ["init"],
    ],
    ids=" ".join,
)
def test_help_screens_show_examples(command: list[str], cli) -> None:  # type: ignore[no-untyped-def]
    res = cli(*command, "--help")
    assert res.exit_code == 0
    text = res.stdout
    assert "Example" in text, text
    examples = text.split("Example", 1)[1]
    assert f"llmops {' '.join(command)} " in examples
