"""Crash safety: real `llmops index run` processes killed with SIGKILL at several points."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from llmops.failpoints import ENV
from llmops.rag import Pipeline
from llmops.rag.store import close_stores

pytestmark = pytest.mark.slow

MORE = {
    f"extra/part{i}.md": f"# Part {i}\n\n"
    + "\n\n".join(f"Paragraph {j} of part {i} talks about topic {i * 10 + j}." for j in range(6))
    for i in range(12)
}


def _run_cli(project: Path, crash_at: str | None, kill_after: float | None = None) -> int:
    env = dict(os.environ)
    env.pop(ENV, None)
    if crash_at:
        env[ENV] = f"index.{crash_at}"  # SIGKILL there
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmops", "index", "run", "docs"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if kill_after is not None:
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=300)
    return proc.returncode


def _check_consistent(pipe: Pipeline, version: str) -> None:
    manifest = pipe.manifests.read(version)
    assert manifest is not None
    collection = pipe.store().alias_target("docs")
    assert collection == manifest.collection
    ids = pipe.store().ids(collection)
    assert ids == set(manifest.chunk_ids())  # nothing missing, nothing extra
    assert pipe.store().count(collection) == len(manifest.chunk_ids())  # no duplicates


@pytest.mark.parametrize(
    "crash_at",
    ["mid_embed", "before_switch", "timed"],
)
def test_killed_run_leaves_previous_version_and_next_run_completes(
    project: Path, settings: Any, crash_at: str
) -> None:
    pipe = Pipeline.from_name("docs", settings)
    first = pipe.run()
    close_stores()
    for rel, text in MORE.items():  # enough new chunks for several upsert windows
        (project / "docs" / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / "docs" / rel).write_text(text, encoding="utf-8")
    if crash_at == "timed":
        code = _run_cli(project, None, kill_after=7.0)
    else:
        code = _run_cli(project, crash_at)
    assert code == -signal.SIGKILL or (crash_at == "timed" and code == 0)
    pipe = Pipeline.from_name("docs", settings)
    served = pipe.store().alias_target("docs")
    if crash_at != "timed":
        assert served == first.collection  # the previous good version is still served
        _check_consistent(pipe, first.index_version)
    result = pipe.run()
    _check_consistent(pipe, result.index_version)
    assert result.counts["chunks"] > first.counts["chunks"]
    if crash_at == "before_switch":
        assert result.counts["embedded"] == 0  # the killed run had embedded everything
    if crash_at == "mid_embed":
        assert 0 < result.counts["kept"] < result.counts["chunks"]  # resumed, not restarted
