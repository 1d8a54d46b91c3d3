"""The statistics: Wilson intervals, reweighted rates, the Rogan-Gladen correction, quantiles."""

from __future__ import annotations

import numpy as np
import pytest

from llmops.monitor.stats import hist_quantile, ht_rate, rogan_gladen, wilson


def test_wilson_matches_known_values_and_behaves_at_the_edges() -> None:
    r = wilson(10, 100)
    assert r is not None
    assert (round(r.low, 4), round(r.high, 4)) == (0.0552, 0.1744)  # textbook Wilson 95 %
    zero = wilson(0, 30)
    assert zero is not None and zero.low == 0 and 0.10 < zero.high < 0.12
    assert wilson(0, 0) is None  # no data is not a rate


def _poisson_sample(rng: np.random.Generator, y: np.ndarray, pi: np.ndarray) -> list[float]:
    take = rng.random(len(y)) < pi
    w = 1 / pi[take]
    a = (1 - pi[take]) / pi[take] ** 2
    yy = y[take]
    return [w.sum(), (w * yy).sum(), a.sum(), (a * yy).sum(), (w * w).sum()]


def test_reweighted_rate_is_unbiased_and_covers_under_risk_oversampling() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    risky = rng.random(n) < 0.2
    y = np.where(risky, rng.random(n) < 0.6, rng.random(n) < 0.05).astype(float)  # rates differ
    pi = np.where(risky, 0.4, 0.05)  # risky traffic oversampled 8x
    truth = y.mean()
    estimates, covered = [], 0
    for _ in range(400):
        sums = _poisson_sample(rng, y, pi)
        rate = ht_rate(*sums)
        assert rate is not None
        estimates.append(rate.value)
        covered += rate.low <= truth <= rate.high
    assert abs(np.mean(estimates) - truth) < 0.01
    assert covered / 400 >= 0.9  # about 95 % nominal
    take = rng.random(n) < pi
    assert y[take].mean() > truth + 0.1  # the unweighted sample rate is badly biased


def test_every_trace_scored_gives_the_process_interval() -> None:
    rate = ht_rate(100.0, 20.0, 0.0, 0.0, 100.0)  # pi = 1 for all: no design variance
    assert rate is not None and rate.value == 0.2 and rate.n == pytest.approx(100)
    assert rate.low < 0.2 < rate.high


def test_rogan_gladen_recovers_the_true_rate_from_an_imperfect_judge() -> None:
    rng = np.random.default_rng(1)
    sens, spec, truth, n = 0.8, 0.9, 0.15, 5000
    true = rng.random(n) < truth
    says = np.where(true, rng.random(n) < sens, rng.random(n) >= spec)
    observed = wilson(float(says.sum()), n)
    assert observed is not None and abs(observed.value - truth) > 0.03  # the raw rate is off
    corrected, note = rogan_gladen(observed, sens, spec, n_pos=200, n_neg=200)
    assert corrected is not None and corrected.low <= truth <= corrected.high
    assert abs(corrected.value - truth) < 0.02
    assert "Rogan-Gladen" in note and "200" in note
    assert corrected.high - corrected.low > observed.high - observed.low  # calibration costs width
    useless, why = rogan_gladen(observed, 0.5, 0.52, 100, 100)
    assert useless is None and "no better than chance" in why


def test_quantiles_from_histograms_bracket_the_true_value() -> None:
    rng = np.random.default_rng(2)
    values = rng.lognormal(4, 0.6, 20_000)
    edges = (1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 200, 300, 500, 750, 1000)
    counts = np.histogram(values, bins=[-1, *edges, 1e9])[0]
    for q in (0.5, 0.95, 0.99):
        at, lo, hi = hist_quantile(edges, counts.tolist(), q)  # type: ignore[misc]
        true = float(np.quantile(values, q))
        assert lo <= at <= hi
        assert abs(at - true) / true < 0.15  # within the bin it falls in
    assert hist_quantile(edges, [0] * 16, 0.5) is None
