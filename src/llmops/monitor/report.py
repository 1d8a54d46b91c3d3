"""The monitor report: every signal of every route over a window, with its evidence.

``build_report`` is what ``llmops monitor report`` prints (tables or ``--json``) and what the
dashboard can call. It reads rollups and the sampled traces only, so its cost does not grow with
the number of traces in the window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmops.monitor.queries import Window, routes_in, skew_summary
from llmops.monitor.signals import Evaluator, SignalValue

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.traces.store import TraceStore

__all__ = ["SECTIONS", "MonitorReport", "RouteReport", "build_report", "prefetch_query_drift"]

#: routes whose query-drift tests run at once (the CI machine and the target have 2 cores)
DRIFT_THREADS = 2

#: report section -> the signal groups shown in it
SECTIONS: dict[str, tuple[str, ...]] = {
    "operational": ("operational",),
    "hallucination": ("hallucination",),
    "retrieval": ("retrieval", "staleness"),
    "query_drift": ("query_drift",),
    "answers": ("answers",),
    "release": ("release",),
}


@dataclass
class RouteReport:
    """One route's signals and the details behind them."""

    route: str
    signals: list[SignalValue]
    details: dict[str, dict[str, Any]]

    def signal(self, name: str) -> SignalValue:
        """Return a signal by name."""
        return next(s for s in self.signals if s.name == name)

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "route": self.route,
            "signals": {s.name: s.as_dict() for s in self.signals},
            "details": self.details,
        }


@dataclass
class MonitorReport:
    """Every route's report over one window."""

    window: Window
    generated_at: float
    store: str
    routes: list[RouteReport] = field(default_factory=list)
    clock_skew: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "window": self.window.as_dict(),
            "generated_at": self.generated_at,
            "store": self.store,
            "clock_skew": self.clock_skew,
            "notes": self.notes,
            "routes": [r.as_dict() for r in self.routes],
            "seconds": round(self.seconds, 3),
        }


def build_report(
    store: TraceStore,
    settings: Settings,
    window: Window,
    *,
    route: str | None = None,
    clock: Callable[[], float] = time.time,
    evaluator: Evaluator | None = None,
) -> MonitorReport:
    """Return the report of ``window`` (one route, or every route with traffic in it)."""
    from llmops.traces.locate import redact_url

    started = time.perf_counter()
    ev = evaluator or Evaluator(store, settings, clock=clock)
    report = MonitorReport(window, clock(), redact_url(store.url))
    names = [route] if route is not None else routes_in(store, window)
    prefetch_query_drift(ev, names, window)
    if not names:
        report.notes.append(
            "no traffic in the window: no data (nothing is reported as 0 or as no drift)"
        )
    for name in names:
        details: dict[str, dict[str, Any]] = {}
        signals: list[SignalValue] = []
        for section, groups in SECTIONS.items():
            merged: dict[str, Any] = {}
            for group in groups:
                result = ev.group(group, name, window)
                signals.extend(result["signals"].values())
                merged.update(result["details"])
            details[section] = merged
        report.routes.append(RouteReport(name, signals, details))
    skew = skew_summary(store, window)
    if skew["events"]:
        report.clock_skew = skew
        report.notes.append(
            f"{int(skew['events'])} event(s) arrived with a clock up to {skew['max_ahead_s']} s "
            "ahead of the gateway's: stored at arrival time (their own time is in ts_client)"
        )
    report.seconds = time.perf_counter() - started
    return report


def prefetch_query_drift(ev: Evaluator, routes: list[str], window: Window) -> None:
    """Run the routes' query-drift tests ``DRIFT_THREADS`` at a time into ``ev``'s memo.

    The one signal not summed from rollups: with no fresh stored result (no ``monitor watch``
    running) each route reads up to 2 x ``max_window`` embedded queries and runs an MMD
    permutation test, about half the first report's time at 1M traces. Both halves release
    the GIL (SQLite reads, numpy products), so two routes at a time halve that part's wall
    time on two cores; the results are the same (each test has its own seed). BLAS stays on
    one thread per test: the limit is set once here, around the pool, because threadpoolctl's
    limit is process-wide (the tests' own nested limits then save and restore 1).
    """
    if len(routes) < 2:
        return
    from concurrent.futures import ThreadPoolExecutor

    from llmops.monitor.drift import one_blas_thread

    with one_blas_thread(), ThreadPoolExecutor(DRIFT_THREADS) as pool:
        list(pool.map(lambda name: ev.group("query_drift", name, window), routes))
