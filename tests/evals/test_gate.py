"""The gate's statistics: paired bootstrap CIs and the synthetic false-alarm / power study."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from llmops.evals.gate import apply_gate, paired_bootstrap, summarize
from llmops.evals.metrics import create_metric
from llmops.evals.records import ItemRow, MetricResult, RunResult, TargetOutput
from llmops.evals.suite import GateSpec, MetricSpec


def test_bootstrap_interval_covers_the_true_difference() -> None:
    rng = np.random.default_rng(1)
    base = rng.uniform(0.2, 1.0, 80)
    current = base - 0.05 + rng.normal(0, 0.05, 80)
    result = paired_bootstrap(current.tolist(), base.tolist(), alpha=0.05, resamples=2000)
    assert result.n == 80
    assert result.low < -0.05 < result.high
    assert result.high < 0  # a 5-point drop with this little noise is significant
    with pytest.raises(ValueError):
        paired_bootstrap([1.0], [1.0, 0.0])


def _run(scores: np.ndarray, metric: Any) -> RunResult:
    rows = [
        ItemRow(
            id=f"item-{i}",
            input=f"question {i}",
            output=TargetOutput(answer=""),
            metrics={"quality": MetricResult.scored(float(score), metric.threshold)},
        )
        for i, score in enumerate(scores)
    ]
    return RunResult(suite="study", started_at="2026-12-06T00:00:00+00:00", rows=rows)


def _gate_fails(current: np.ndarray, base: np.ndarray, seed: int) -> bool:
    """Run the real gate (summarize + apply_gate) on ``current`` against ``base``."""
    metric = create_metric(MetricSpec(type="rouge-l", metric="quality", threshold=0.5))
    gate = GateSpec(alpha=0.05, min_effect=0.02, resamples=2000, seed=seed)
    baseline_run = _run(base, metric)
    summarize(baseline_run, [metric], gate)
    baseline = {
        "metrics": {
            "quality": {
                "mean": baseline_run.metrics[0].mean,
                "items": baseline_run.item_scores("quality"),
            }
        }
    }
    run = _run(current, metric)
    summarize(run, [metric], gate)
    passed = apply_gate(run, [metric], gate, baseline)
    assert run.metrics[0].paired_items == len(current)
    return not passed


def test_baseline_column_is_the_mean_of_the_items_the_delta_pairs() -> None:
    # A run of 4 of the baseline's 8 items, each scoring as in the baseline: Δ is 0, and the
    # baseline column beside it is the same 4 items' mean (0.5), not the whole baseline's (0.25).
    metric = create_metric(MetricSpec(type="rouge-l", metric="quality", threshold=0.5))
    gate = GateSpec(alpha=0.05, min_effect=0.02, resamples=500, seed=1)
    scores = np.array([0.5, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0])
    baseline = {
        "metrics": {"quality": {"mean": 0.25, "items": _run(scores, metric).item_scores("quality")}}
    }
    run = _run(scores[:4], metric)
    summarize(run, [metric], gate)
    assert apply_gate(run, [metric], gate, baseline)
    summary = run.metrics[0]
    assert (summary.mean, summary.baseline_mean, summary.diff) == (0.5, 0.5, 0.0)
    assert summary.paired_items == 4


def _continuous_run(rng: np.random.Generator, quality: np.ndarray, drop: float) -> np.ndarray:
    # A run's item score = the item's own quality - drop + run-to-run noise (sd 0.12), in [0, 1].
    return np.clip(quality - drop + rng.normal(0, 0.12, len(quality)), 0, 1)


def _binary_run(rng: np.random.Generator, p_pass: np.ndarray, drop: float) -> np.ndarray:
    verdicts = (rng.random(len(p_pass)) < p_pass).astype(float)
    if drop:
        # the drop: that share of all items turn from pass to fail
        passing = np.flatnonzero(verdicts == 1)
        k = int(round(drop * len(p_pass)))
        verdicts[rng.choice(passing, size=min(k, len(passing)), replace=False)] = 0
    return verdicts


def test_synthetic_study_false_alarms_and_power() -> None:
    """Scored metrics (judge scores, similarity, ROUGE): per-item quality ~ Beta(2, 2), each
    run adds noise (sd 0.12). 100 seeded pure-noise runs: <= 5% false alarms; a planted
    10-point drop on 60 items: the gate fails >= 90% of the time."""
    false_alarms = detected = 0
    drops = []
    for seed in range(100):
        rng = np.random.default_rng(seed)
        quality = rng.beta(2, 2, 60)
        base = _continuous_run(rng, quality, 0.0)
        false_alarms += _gate_fails(_continuous_run(rng, quality, 0.0), base, seed)
        dropped = _continuous_run(rng, quality, 0.10)
        drops.append(float(base.mean() - dropped.mean()))
        detected += _gate_fails(dropped, base, seed)
    assert 0.08 < float(np.mean(drops)) < 0.12  # the planted drop is about 10 points
    assert false_alarms <= 5, f"false alarm rate {false_alarms}%"
    assert detected >= 90, f"power {detected}%"


def test_synthetic_study_on_binary_verdicts() -> None:
    """Pass/fail metrics on 60 items: 70% always pass, 20% always fail, 10% flip a coin each
    run. False alarms stay <= 5%; a 10-point drop (6 items turning to fail) is caught less
    often than on scored metrics — the figures documented in the README (Evals and the CI gate)."""
    false_alarms = detected = 0
    for seed in range(100):
        rng = np.random.default_rng(1000 + seed)
        kind = rng.random(60)
        p_pass = np.where(kind < 0.7, 1.0, np.where(kind < 0.9, 0.0, 0.5))
        base = _binary_run(rng, p_pass, 0.0)
        false_alarms += _gate_fails(_binary_run(rng, p_pass, 0.0), base, seed)
        detected += _gate_fails(_binary_run(rng, p_pass, 0.10), base, seed)
    assert false_alarms <= 5, f"false alarm rate {false_alarms}%"
    assert detected >= 40, f"power {detected}%"  # measured: 52%
