"""The A/A self-test: every drift detector, on two samples of one distribution, at every
supported window size, over 100 seeds, must raise at most 5 % false alarms.

Query drift runs on real MiniLM embeddings of a pool of real-looking questions (both samples
drawn from the same pool); the rollup detectors (top-1/top-k score and answer-length histograms,
rate changes, the source mix) on draws from one fixed distribution each. A contrast check shows
the test can fail: a fixed "PSI > 0.1 means drift" rule (no test, no window-size awareness) on
the same draws false-alarms far more at small windows.
"""

from __future__ import annotations

import itertools
import time
from typing import Any, cast

import numpy as np
import pytest

from llmops.config import Settings
from llmops.monitor.drift import query_drift
from llmops.monitor.groups import drift_signal, hist_tests, rate_tests, source_mix_signal
from llmops.monitor.settings import DriftSettings
from llmops.monitor.signals import Evaluator
from llmops.monitor.stats import psi_stat
from llmops.traces.rollup import BINS

SIZES = (50, 100, 200, 500, 1000, 2000)  # min_window (50) to max_window (2000)
SEEDS = 100
MAX_FALSE_ALARMS = 5  # 5 % of 100

SUBJECTS = ["spaghetti", "rice", "lentils", "a steak", "salmon", "potatoes", "an egg", "bread"]
VERBS = ["cook", "boil", "bake", "store", "reheat", "season"]
PLANETS = ["Jupiter", "Mars", "Venus", "Saturn", "Neptune", "Mercury"]
FACTS = ["how big is", "how far from the sun is", "what is the weather like on", "who discovered"]


def _questions() -> list[str]:
    food = [f"How long should I {v} {s}?" for v, s in itertools.product(VERBS, SUBJECTS)] + [
        f"What is the best way to {v} {s}?" for v, s in itertools.product(VERBS, SUBJECTS)
    ]
    space = [f"{f.capitalize()} {p}?" for f, p in itertools.product(FACTS, PLANETS)]
    bikes = [
        f"How often should I {a} my bicycle {b}?"
        for a, b in itertools.product(
            ["oil", "check", "clean", "replace"], ["chain", "tyres", "brakes"]
        )
    ]
    return food + space + bikes


@pytest.fixture(scope="module")
def pool() -> np.ndarray:
    from llmops.embeddings import get_embedder

    return get_embedder().encode(_questions(), batch_size=64)


def _evaluator() -> Evaluator:
    return Evaluator(cast(Any, None), Settings())  # the detectors only read the settings


def test_query_drift_false_alarms_at_every_window_size(pool: np.ndarray) -> None:
    started = time.perf_counter()
    alarms = {}
    for n in SIZES:
        count = 0
        for seed in range(SEEDS):
            rng = np.random.default_rng(10_000 * n + seed)
            ref = pool[rng.integers(0, len(pool), n)]
            cur = pool[rng.integers(0, len(pool), n)]
            result = query_drift(ref, cur, settings=DriftSettings(alpha=0.01, min_window=50))
            assert result.status in ("drift", "no_drift")
            count += result.drifted
        alarms[n] = count
    assert all(a <= MAX_FALSE_ALARMS for a in alarms.values()), alarms
    print(
        f"query drift A/A false alarms per 100: {alarms} in {time.perf_counter() - started:.1f} s"
    )


def _draw(rng: np.random.Generator, n: int, kind: str) -> Any:
    if kind == "top1":
        return np.histogram(rng.beta(5, 3, n), bins=[-1e9, *BINS["top1"].edges, 1e9])[0]
    if kind == "answer_chars":
        lengths = rng.lognormal(5, 0.8, n)
        return np.histogram(lengths, bins=[-1e9, *BINS["answer_chars"].edges, 1e18])[0]
    raise AssertionError(kind)


def test_rollup_detectors_false_alarms_at_every_window_size() -> None:
    ev = _evaluator()
    sources = [f"doc{i}.md" for i in range(12)]
    weights = np.array([1 / (i + 1) for i in range(12)])
    weights /= weights.sum()
    alarms: dict[str, dict[int, int]] = {}
    naive: dict[int, int] = {}
    for n in SIZES:
        naive[n] = 0
        for seed in range(SEEDS):
            rng = np.random.default_rng(7 * n + seed)
            checks = {}
            for kind in ("top1", "answer_chars"):
                ref, cur = _draw(rng, n, kind), _draw(rng, n, kind)
                checks[kind] = drift_signal(ev, kind, "r", hist_tests(ev, list(cur), list(ref)))
                if kind == "top1":
                    naive[n] += float(psi_stat(ref.astype(float), cur.astype(float))) > 0.1
            k_ref, k_cur = rng.binomial(n, 0.1), rng.binomial(n, 0.1)
            checks["rate"] = drift_signal(ev, "rate", "r", rate_tests(ev, k_cur, n, k_ref, n))
            ref_src = dict(zip(sources, rng.multinomial(n, weights).astype(float), strict=True))
            cur_src = dict(zip(sources, rng.multinomial(n, weights).astype(float), strict=True))
            checks["source_mix"] = source_mix_signal(ev, "r", cur_src, ref_src)[0]
            for name, signal in checks.items():
                assert signal.status in ("drift", "no_drift"), signal.message
                alarms.setdefault(name, dict.fromkeys(SIZES, 0))[n] += signal.status == "drift"
    for name, per_size in alarms.items():
        assert all(a <= MAX_FALSE_ALARMS for a in per_size.values()), (name, per_size)
    # The contrast: a fixed threshold without a test fires on identical distributions.
    assert naive[50] > 20, naive
    print(f"rollup detectors A/A false alarms per 100: {alarms}; naive PSI>0.1: {naive}")


def test_below_the_minimum_window_it_says_too_few(pool: np.ndarray) -> None:
    result = query_drift(pool[:49], pool[:200], settings=DriftSettings(min_window=50))
    assert result.status == "too_few"
    assert "reference set has 49" in result.message and "at least 50" in result.message
    empty = query_drift(pool[:100], pool[:0], settings=DriftSettings(min_window=50))
    assert empty.status == "no_data" and "not zero drift" in empty.message
    ev = _evaluator()
    tiny = drift_signal(ev, "top1_drift", "r", hist_tests(ev, [1.0] * 22, [40.0] * 22))
    assert tiny.status == "too_few" and "needs 50" in tiny.message
