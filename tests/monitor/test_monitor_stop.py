"""Ctrl-C stops `monitor watch` between ticks, whatever the main thread is doing when it lands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


_WATCH = """
import signal, sys, threading, time
from pathlib import Path
from llmops.config import load_settings
from llmops.monitor.watch import WatchOptions, stop_on_sigint, watch
from llmops.traces import TraceStore

root = Path(sys.argv[1])
store = TraceStore(f"sqlite:///{root / 'traces.db'}")
stop = threading.Event()


def ctrl_c_elsewhere() -> None:
    time.sleep(1.0)  # the loop is in its hour-long wait by now
    # Delivered to this thread, the signal does not interrupt the main thread's blocked wait:
    # the same as one that lands just before that thread blocks.
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)


threading.Thread(target=ctrl_c_elsewhere, daemon=True).start()
started = time.monotonic()
with stop_on_sigint(stop, lambda: print("notice", flush=True)):
    ticks = watch(store, load_settings(root), stop=stop, on_tick=lambda tick: None,
                  options=WatchOptions(interval=3600))
print(ticks, round(time.monotonic() - started), flush=True)
"""


def test_ctrl_c_that_does_not_interrupt_the_wait_still_stops_it(tmp_path: Path) -> None:
    # Before the fix the loop slept out its hour: the handler runs only when the wait returns.
    (tmp_path / "llmops.yaml").write_text("monitor:\n  sampler: {embed_rate: 0}\n")
    done = subprocess.run(
        [sys.executable, "-c", _WATCH, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "LLMOPS_HOME": str(tmp_path / "home")},
    )
    assert done.returncode == 0, done.stderr
    notice, ticks_and_seconds = done.stdout.strip().split("\n")
    ticks, seconds = ticks_and_seconds.split()
    assert notice == "notice" and ticks == "1"
    assert int(seconds) <= 10
