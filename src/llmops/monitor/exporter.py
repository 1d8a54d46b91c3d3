"""Prometheus gauges for every monitor signal, served by the gateway's ``/metrics``.

The watcher (``llmops monitor watch``) publishes each evaluation into the signals table; a
collector registered in the gateway's registry reads that small table at scrape time (at most
every few seconds), so every gateway replica exports the same figures and the watcher needs no
port of its own. Families:

- ``llmops_monitor_<signal>{route, stat}``: stat is value, low, high or p_value (value is NaN
  when there is none: no data is a gap on a graph, never a 0);
- ``llmops_monitor_signal_status{signal, route, status}``: 1 for the current status (ok,
  no_data, too_few, not_scored, drift, ...), so "no data" is visible and never a 0 rate;
- ``llmops_monitor_alert_firing{rule, route}``, ``llmops_monitor_scoring_ok{scorer}``,
  ``llmops_monitor_last_evaluation_timestamp_seconds`` and ``llmops_monitor_signals_age_seconds``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from llmops.monitor.settings import SIGNALS

if TYPE_CHECKING:
    from llmops.monitor.alerts import RuleOutcome
    from llmops.monitor.scoring import ScoringStatus
    from llmops.monitor.signals import SignalValue
    from llmops.traces.store import TraceStore

__all__ = ["PREFIX", "SignalCollector", "metric_names", "signal_rows"]

PREFIX = "llmops_monitor_"
_EXTRA = {
    "signal_status": "1 for each signal's current status (ok, no_data, too_few, not_scored, ...)",
    "alert_firing": "1 while an alert rule fires",
    "scoring_ok": "1 when the scorer (groundedness, judge) could score in the last pass",
    "last_evaluation_timestamp_seconds": "when the watcher last evaluated (unix time)",
}


def metric_names() -> list[str]:
    """Return every metric family the exporter can serve."""
    return sorted(
        [PREFIX + s for s in SIGNALS]
        + [PREFIX + e for e in _EXTRA]
        + [PREFIX + "signals_age_seconds"]
    )


def signal_rows(
    signals: list[SignalValue],
    outcomes: list[RuleOutcome],
    scoring: ScoringStatus | None,
    now: float,
) -> list[tuple[str, dict[str, str], float | None]]:
    """Return the published rows of one evaluation."""
    rows: list[tuple[str, dict[str, str], float | None]] = []
    for s in signals:
        for stat in ("value", "low", "high", "p_value"):
            value = getattr(s, stat)
            if value is not None or stat == "value":  # no value: NaN, and the status says why
                labels = {"route": s.route, "stat": stat}
                rows.append((PREFIX + s.name, labels, None if value is None else float(value)))
        rows.append(
            (
                PREFIX + "signal_status",
                {"signal": s.name, "route": s.route, "status": s.status},
                1.0,
            )
        )
    for o in outcomes:
        rows.append((PREFIX + "alert_firing", {"rule": o.rule, "route": o.route}, float(o.fired)))
    if scoring is not None:
        judge_ok = scoring.judge_state in ("ok", "off")
        rows.append((PREFIX + "scoring_ok", {"scorer": "groundedness"}, float(scoring.errors == 0)))
        rows.append((PREFIX + "scoring_ok", {"scorer": "judge"}, float(judge_ok)))
    rows.append((PREFIX + "last_evaluation_timestamp_seconds", {}, now))
    return rows


class SignalCollector:
    """A prometheus_client collector over the published signals table."""

    def __init__(self, store: TraceStore, *, max_age: float = 5.0) -> None:
        self.store = store
        self.max_age = max_age
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Any]] = (0.0, [])

    def _rows(self) -> list[Any]:
        from llmops.monitor.journal import read_signals

        now = time.monotonic()
        with self._lock:
            if now - self._cached[0] > self.max_age:
                try:
                    self._cached = (now, read_signals(self.store))
                except Exception:  # noqa: BLE001 - a scrape must not fail on the monitor's table
                    self._cached = (now, [])
            return self._cached[1]

    def describe(self) -> Iterator[Any]:
        """Describe nothing up front (families are built per scrape)."""
        return iter(())

    def collect(self) -> Iterator[Any]:
        """Yield one gauge family per published metric name."""
        from prometheus_client.core import GaugeMetricFamily

        rows = self._rows()
        by_name: dict[str, list[tuple[dict[str, str], float | None]]] = {}
        newest = 0.0
        for name, labels, value, ts in rows:
            by_name.setdefault(name, []).append((labels, value))
            newest = max(newest, ts)
        for name, samples in sorted(by_name.items()):
            keys = sorted({k for labels, _ in samples for k in labels})
            short = name[len(PREFIX) :]
            doc = _EXTRA.get(short) or f"monitor signal {short} ({SIGNALS.get(short, 'value')})"
            family = GaugeMetricFamily(name, doc, labels=keys)
            for labels, value in samples:
                family.add_metric(
                    [labels.get(k, "") for k in keys], float("nan") if value is None else value
                )
            yield family
        if newest:
            yield GaugeMetricFamily(
                PREFIX + "signals_age_seconds",
                "seconds since the watcher last published signals",
                value=max(0.0, time.time() - newest),
            )
