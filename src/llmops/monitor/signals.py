"""Signals: every number a rule can alert on, for one route and one window.

``Evaluator`` computes them in groups (operational, answers, retrieval, hallucination, query
drift, staleness, release), each from SQL aggregates, and memoises a group per (route, window)
so a report or a rule evaluation never computes one twice. A signal that cannot be computed says
why (``no_data``, ``too_few``, ``not_scored``, ...) instead of reporting 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from llmops.monitor.queries import (
    RollupTotals,
    ScoredSums,
    Window,
    all_source_counts,
    rollup_totals,
    scored_sums,
)
from llmops.monitor.settings import SIGNAL_GROUPS

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.traces.store import TraceStore

__all__ = ["GROUPS", "Evaluator", "SignalValue"]


@dataclass
class SignalValue:
    """One signal's value (with interval or test result) or why there is none."""

    name: str
    route: str
    status: str  # ok | drift | no_drift | no_data | too_few | not_scored | unknown
    value: float | None = None
    low: float | None = None
    high: float | None = None
    p_value: float | None = None
    effect: float | None = None
    n: float | None = None
    message: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        out = asdict(self)
        for key in ("value", "low", "high", "p_value", "effect"):
            if out[key] is not None:
                out[key] = round(float(out[key]), 6)
        return out


#: signal name -> the group that computes it (one table with the signals' kinds, in settings)
GROUPS = SIGNAL_GROUPS


class Evaluator:
    """Computes signals from one store with one clock; results are memoised per window."""

    def __init__(
        self,
        store: TraceStore,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._memo: dict[tuple[str, str, Window], Any] = {}
        self._staleness: dict[str, tuple[float, dict[str, Any]]] = {}

    def group(self, group: str, route: str, window: Window) -> Any:
        """Return a group's result (a dict of signals plus details) for ``route``."""
        key = (group, route, window)
        if key not in self._memo:
            from llmops.monitor import groups

            fn = getattr(groups, group)
            self._memo[key] = fn(self, route, window)
        return self._memo[key]

    def _once(self, name: str, window: Window, compute: Callable[[], Any]) -> Any:
        key = (name, "", window)
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def rollups(self, route: str, window: Window) -> list[RollupTotals]:
        """Return the route's rollups per (arm, prompt); one query set per window, all routes."""
        found = self._once(
            "_rollups", window,
            lambda: rollup_totals(self.store, window, group_by=("route", "arm", "prompt")),
        )  # fmt: skip
        return [r for r in found if r.keys["route"] == route]

    def scored(self, route: str, window: Window) -> list[ScoredSums]:
        """Return the route's scored-sample sums per (prompt version, arm); one query."""
        by = ("route", "prompt_name", "prompt_version", "arm")
        found = self._once("_scored", window, lambda: scored_sums(self.store, window, group_by=by))
        return [g for g in found if g.keys["route"] == route]

    def sources(self, route: str, window: Window) -> dict[str, float]:
        """Return the route's top-1 source counts; one query per window, all routes."""
        found = self._once("_sources", window, lambda: all_source_counts(self.store, window))
        return {src: top for (r, src), (_n, top) in found.items() if r == route}

    def signal(self, name: str, route: str, window: Window) -> SignalValue:
        """Return one signal for ``route`` over ``window``."""
        result = self.group(GROUPS[name], route, window)
        found: SignalValue = result["signals"][name]
        return found

    def all_signals(self, route: str, window: Window) -> list[SignalValue]:
        """Return every signal for ``route`` over ``window``."""
        return [self.signal(name, route, window) for name in GROUPS]

    def reference_window(self, window: Window) -> Window:
        """Return the span the rollup-based tests compare ``window`` with."""
        from llmops.monitor.settings import parse_duration

        return window.before(parse_duration(self.settings.monitor.drift.reference_window))

    def cached_staleness(self, key: str, ttl: float, compute: Callable[[], dict[str, Any]]) -> Any:
        """Return ``compute()`` at most once per ``ttl`` seconds for ``key`` (file hashing)."""
        now = time.monotonic()
        found = self._staleness.get(key)
        if found is None or now - found[0] > ttl:
            found = (now, compute())
            self._staleness[key] = found
        return found[1]
