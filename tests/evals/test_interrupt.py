"""Ctrl-C mid-run keeps partial results and the cache; the re-run resumes from the cache."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evals_helpers import Project, knowing_responder

from llmops.demo import interruptible
from llmops.testing import Reply, ScriptedLLMServer, wait_until


def _eval_run(project: Project, home: Path, *args: str, **popen: Any) -> subprocess.Popen[str]:
    """Start ``llmops eval run evals/facts.yaml ARGS`` in its own process, state under ``home``."""
    return subprocess.Popen(
        [sys.executable, "-m", "llmops", "eval", "run", "evals/facts.yaml", *args],
        cwd=project.root,
        env={**os.environ, "LLMOPS_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def test_ctrl_c_keeps_partial_results_and_rerun_resumes(
    project: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    def slow(body: dict[str, Any]) -> Reply:
        return dataclasses.replace(knowing_responder(body), delay=0.4)

    llm.set_responder(slow)
    make_suite(concurrency=1, metrics=[{"type": "contains"}, {"type": "hallucination"}])
    out = ("--out", str(tmp_path / "out"))
    # preexec_fn: Ctrl-C works even when the suite runs in the background
    proc = _eval_run(project, tmp_path / "home", *out, preexec_fn=interruptible)
    cache = tmp_path / "home/cache/models"

    def finished_rows() -> bool:
        # A finished row is cached at once (its item-done entry holds the row).
        assert proc.poll() is None, "the run ended before it was interrupted"
        return sum('"row"' in p.read_text() for p in cache.rglob("*.json")) >= 2

    wait_until(finished_rows, timeout=60, what="two finished rows")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted:" in err and "re-run to resume from the cache" in err
    partial = json.loads((tmp_path / "out/results.json").read_text())
    assert partial["partial"] is True and 2 <= len(partial["rows"]) < 8
    finished = len(partial["rows"])

    llm.requests.clear()
    llm.set_responder(knowing_responder)
    done = _eval_run(project, tmp_path / "home", *out, "--json")
    stdout, stderr = done.communicate(timeout=120)
    assert done.returncode == 0, stderr
    calls = json.loads(stdout)["suites"][0]["calls"]
    assert calls["cache_hits"] >= finished
    assert calls["target_calls"] <= 8 - finished


def test_concurrent_runs_share_the_cache_safely(
    project: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    llm.set_responder(lambda body: dataclasses.replace(knowing_responder(body), delay=0.05))
    make_suite(metrics=[{"type": "contains"}, {"type": "hallucination"}])
    procs = [_eval_run(project, tmp_path / "home", "--json") for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    means = [json.loads(out)["suites"][0]["metrics"][0]["mean"] for out, _ in outs]
    assert means[0] == means[1] == 1.0
    entries = list((tmp_path / "home/cache/models").rglob("*.json"))
    assert entries and all(json.loads(e.read_text())["value"] for e in entries)
    assert not list((tmp_path / "home/cache/models").rglob("*.tmp"))
    third, _ = _eval_run(project, tmp_path / "home", "--json").communicate(timeout=120)
    assert json.loads(third)["suites"][0]["calls"]["target_calls"] == 0
