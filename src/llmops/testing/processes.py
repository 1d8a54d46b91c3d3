"""Stop a child process the way tests and benchmarks need: ask first, then make sure.

``stop_process`` sends SIGTERM (the process may clean up: a server closes its store, ``ray
start`` stops what it started), waits up to ``grace`` seconds, then SIGKILLs what is left and
reaps it, so no test leaves a zombie or a port in use behind it.
"""

from __future__ import annotations

import signal
import subprocess
from typing import Any

__all__ = ["stop_process"]


def stop_process(
    proc: subprocess.Popen[Any], grace: float = 20.0, sig: int = signal.SIGTERM
) -> int:
    """Send ``sig`` (SIGTERM) to ``proc``, kill it after ``grace`` seconds; return its status."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(sig)
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(10)
