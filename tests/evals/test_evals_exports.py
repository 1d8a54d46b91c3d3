"""Every name llmops.evals and its metrics export resolves; the metric registry is full."""

from __future__ import annotations

import llmops.evals
import llmops.evals.metrics


def test_evals_exports_resolve() -> None:
    """The exact list is pinned in tests/core/public_api.json; metrics resolve too."""
    for name in llmops.evals.__all__ + llmops.evals.metrics.__all__:
        assert getattr(llmops.evals, name, None) or getattr(llmops.evals.metrics, name)


def test_every_builtin_metric_is_registered() -> None:
    assert len(llmops.evals.available_metrics()) == 27
