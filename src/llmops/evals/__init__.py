"""Eval suites, metrics, the runner and the CI gate.

``load_suite(path)`` reads ``evals/<name>.yaml``; ``run_suite(suite, settings)`` runs it and gates
it against ``evals/baselines/<name>.json``; ``llmops.evals.report`` writes JSON, JUnit, Markdown
and HTML. Metrics and targets are registries (``register_metric``, ``register_target``).
"""

from llmops.evals.golden import GoldenRecord, GoldenSet, load_golden_set, load_golden_sets
from llmops.evals.metrics.base import (
    BaseMetric,
    ItemContext,
    Metric,
    available_metrics,
    register_metric,
)
from llmops.evals.records import ItemRow, MetricResult, MetricSummary, RunResult, TargetOutput
from llmops.evals.runner import EvalRunner, Preflight, RunOptions, load_baseline, run_suite
from llmops.evals.suite import MetricSpec, Suite, load_suite
from llmops.evals.targets import register_target

__all__ = [
    "BaseMetric",
    "EvalRunner",
    "GoldenRecord",
    "GoldenSet",
    "ItemContext",
    "ItemRow",
    "Metric",
    "MetricResult",
    "MetricSpec",
    "MetricSummary",
    "Preflight",
    "RunOptions",
    "RunResult",
    "Suite",
    "TargetOutput",
    "available_metrics",
    "load_baseline",
    "load_golden_set",
    "load_golden_sets",
    "load_suite",
    "register_metric",
    "register_target",
    "run_suite",
]
