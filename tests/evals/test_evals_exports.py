"""The public API of llmops.evals is pinned."""

from __future__ import annotations

import llmops.evals
import llmops.evals.metrics


def test_evals_exports() -> None:
    assert sorted(llmops.evals.__all__) == [
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
    for name in llmops.evals.__all__ + llmops.evals.metrics.__all__:
        assert getattr(llmops.evals, name, None) or getattr(llmops.evals.metrics, name)


def test_every_builtin_metric_is_registered() -> None:
    assert len(llmops.evals.available_metrics()) == 27
