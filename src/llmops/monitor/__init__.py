"""Production monitors over the trace store: online evaluation, hallucination and drift
signals, alert rules with actions, and the report behind ``llmops monitor``.

The query API for other readers (the dashboard): ``build_report`` (every signal of every
route), ``Evaluator`` (one signal or group), and ``llmops.monitor.queries`` (rollup totals,
scored-sample sums) all return dataclasses; ``TraceStore.page`` lists traces a keyset page at a
time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmops.lazy import lazy_names as _lazy_names

if TYPE_CHECKING:
    from llmops.monitor.alerts import RuleOutcome, evaluate_rules
    from llmops.monitor.drift import DriftResult, query_drift
    from llmops.monitor.queries import Window
    from llmops.monitor.report import MonitorReport, build_report
    from llmops.monitor.scoring import Scorer
    from llmops.monitor.signals import Evaluator, SignalValue
    from llmops.monitor.watch import run_once, watch

__all__ = [
    "DriftResult",
    "Evaluator",
    "MonitorReport",
    "RuleOutcome",
    "Scorer",
    "SignalValue",
    "Window",
    "build_report",
    "evaluate_rules",
    "query_drift",
    "run_once",
    "watch",
]

_WHERE = {
    "RuleOutcome": "llmops.monitor.alerts",
    "evaluate_rules": "llmops.monitor.alerts",
    "DriftResult": "llmops.monitor.drift",
    "query_drift": "llmops.monitor.drift",
    "Window": "llmops.monitor.queries",
    "MonitorReport": "llmops.monitor.report",
    "build_report": "llmops.monitor.report",
    "Scorer": "llmops.monitor.scoring",
    "Evaluator": "llmops.monitor.signals",
    "SignalValue": "llmops.monitor.signals",
    "run_once": "llmops.monitor.watch",
    "watch": "llmops.monitor.watch",
}

# Lazy: llmops.config imports llmops.monitor.settings, which must not pull the monitors in.
__getattr__ = _lazy_names(__name__, _WHERE, globals())
