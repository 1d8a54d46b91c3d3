"""``llmops monitor watch``: score, evaluate the rules, publish the gauges, sleep, repeat.

Each tick scores the sampled traces waiting for it, evaluates every alert rule (running the
actions of those that fire), publishes every signal of every route with traffic for
``/metrics`` and stores the query drift of each ``monitor.drift.cache_windows`` window, which
the report and the dashboard then reuse (``llmops.monitor.drift_cache``). The loop waits on an
event, so Ctrl-C (or ``stop.set()``) ends it between ticks or during the wait (within a second),
never half-way through a write.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from llmops.monitor.alerts import RuleOutcome, evaluate_rules
from llmops.monitor.exporter import signal_rows
from llmops.monitor.journal import publish_signals
from llmops.monitor.queries import Window, routes_in
from llmops.monitor.scoring import Scorer, ScoringStatus
from llmops.monitor.settings import parse_duration
from llmops.monitor.signals import Evaluator, SignalValue

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.traces.store import TraceStore

__all__ = ["Tick", "WatchOptions", "run_once", "stop_on_sigint", "wait_for_stop", "watch"]


@dataclass
class Tick:
    """What one evaluation did."""

    at: float
    scoring: ScoringStatus | None
    outcomes: list[RuleOutcome] = field(default_factory=list)
    signals: list[SignalValue] = field(default_factory=list)
    seconds: float = 0.0


def run_once(
    store: TraceStore,
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    score: bool = True,
) -> Tick:
    """Score, evaluate the rules and publish the gauges once."""
    started = time.perf_counter()
    now = clock()
    scoring = Scorer(store, settings, clock=clock).score_pending() if score else None
    ev = Evaluator(store, settings, clock=clock)
    outcomes = evaluate_rules(store, settings, clock=clock, sleep=sleep, evaluator=ev)
    window = Window.last(parse_duration(settings.monitor.gauge_window), now)
    signals = [s for route in routes_in(store, window) for s in ev.all_signals(route, window)]
    publish_signals(store, signal_rows(signals, outcomes, scoring, now), now)
    for span in settings.monitor.drift.cache_windows:  # stored for the report and the dashboard
        ahead = Window.last(parse_duration(span), now)
        for route in routes_in(store, ahead):
            ev.group("query_drift", route, ahead)
    return Tick(now, scoring, outcomes, signals, time.perf_counter() - started)


@dataclass
class WatchOptions:
    """How the loop runs: its clock, the time between ticks, an optional tick limit."""

    clock: Callable[[], float] = time.time
    interval: float | None = None  # default: monitor.interval
    max_ticks: int | None = None


def watch(
    store: TraceStore,
    settings: Settings,
    *,
    stop: threading.Event,
    on_tick: Callable[[Tick], None],
    options: WatchOptions | None = None,
) -> int:
    """Run ticks until ``stop`` is set (or ``max_ticks``); return how many ran."""
    opts = options or WatchOptions()
    every = (
        opts.interval if opts.interval is not None else parse_duration(settings.monitor.interval)
    )
    ticks = 0
    while not stop.is_set():
        on_tick(run_once(store, settings, clock=opts.clock))
        ticks += 1
        if opts.max_ticks is not None and ticks >= opts.max_ticks:
            break
        wait_for_stop(stop, every)
    return ticks


def wait_for_stop(stop: threading.Event, seconds: float, *, wake: float = 1.0) -> bool:
    """Wait up to ``seconds`` for ``stop``, waking every ``wake`` seconds; return whether it is set.

    A Ctrl-C interrupts a blocked wait only when its signal reaches the main thread while it is
    blocked. One that lands on another thread, or just before the main thread blocks, leaves
    the wait blocked, and Python runs the handler only when the wait returns. Short waits bound
    that to ``wake`` seconds instead of the whole interval.
    """
    deadline = time.monotonic() + seconds
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        stop.wait(min(left, wake))
    return True


@contextlib.contextmanager
def stop_on_sigint(stop: threading.Event, notice: Callable[[], None]) -> Iterator[None]:
    """Make the first Ctrl-C set ``stop`` (after ``notice()``); a second one interrupts as usual.

    The handler sets the event from a new thread: a signal handler runs on the main thread between
    two bytecodes, possibly while that thread holds the event's lock inside ``stop.wait()``, and
    ``stop.set()`` there would wait for that lock forever.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def interrupt(_signum: int, _frame: object) -> None:
        signal.signal(signal.SIGINT, previous)
        notice()
        threading.Thread(target=stop.set, name="llmops-stop", daemon=True).start()

    signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
