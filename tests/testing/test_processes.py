"""``stop_process``: SIGTERM first, SIGKILL after the grace period, the exit status returned."""

from __future__ import annotations

import signal
import subprocess
import sys

from llmops.testing import stop_process

# The child says "ready" once its SIGTERM handler is installed, then blocks on stdin (no sleep).
CHILD = """
import signal, sys
signal.signal(signal.SIGTERM, {handler})
print("ready", flush=True)
sys.stdin.read()
"""


def _child(handler: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(handler=handler)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_a_process_that_exits_on_sigterm_is_not_killed() -> None:
    proc = _child("lambda *_: sys.exit(7)")
    assert stop_process(proc, grace=30) == 7


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period() -> None:
    proc = _child("signal.SIG_IGN")
    assert stop_process(proc, grace=0.2) == -signal.SIGKILL


def test_an_exited_process_returns_its_status() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait(30)
    assert stop_process(proc) == 3
