"""Ctrl-C stops `monitor watch` between ticks, whatever the main thread is doing when it lands."""

from __future__ import annotations

import subprocess
import sys

_SCRIPT = """
import signal, threading
from llmops.monitor.watch import stop_on_sigint

stop = threading.Event()
with stop_on_sigint(stop, lambda: print("notice", flush=True)):
    with stop._cond:  # the lock stop.wait() holds on its way in and out
        signal.raise_signal(signal.SIGINT)  # the handler runs here, on this thread
    print("set" if stop.wait(10) else "not set", flush=True)
    try:
        signal.raise_signal(signal.SIGINT)  # a second Ctrl-C interrupts as usual
    except KeyboardInterrupt:
        print("forced", flush=True)
"""


def test_ctrl_c_landing_while_the_wait_holds_its_lock_still_stops() -> None:
    # In a child process: a handler that set the event inline would wait for the lock forever.
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["notice", "set", "forced"]
