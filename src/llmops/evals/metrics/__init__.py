"""Metric types: golden-set, retrieval, behavioural and judge metrics behind one registry."""

from llmops.evals.metrics.base import (
    BaseMetric,
    EvalServices,
    ItemContext,
    Metric,
    available_metrics,
    create_metric,
    register_eval_metric,
    register_metric,
)

__all__ = [
    "BaseMetric",
    "EvalServices",
    "ItemContext",
    "Metric",
    "available_metrics",
    "create_metric",
    "register_eval_metric",
    "register_metric",
]
