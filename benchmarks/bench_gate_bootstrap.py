"""The gate's paired bootstrap through scipy.stats.bootstrap against the hand-written one it replaced.

Prints a JSON table: seconds per call (n items, 2,000 resamples, the gate's default), the ratio
scipy / hand-written, and how often the two agree on the gate's decision (CI below zero and a
drop over 0.02) over seeded synthetic runs. Run: .venv/bin/python benchmarks/bench_gate_bootstrap.py
"""

from __future__ import annotations

import json
import time

import numpy as np

from llmops.evals.gate import paired_bootstrap


def _hand_written(current: np.ndarray, baseline: np.ndarray, seed: int) -> tuple[float, float]:
    diffs = current - baseline
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), size=(2000, len(diffs)))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


def main() -> None:
    rows = []
    for n in (60, 500, 5000):
        rng = np.random.default_rng(n)
        base = rng.uniform(0, 1, n)
        cur = np.clip(base - 0.03 + rng.normal(0, 0.12, n), 0, 1)
        timings = {}
        for name, fn in (
            ("scipy", lambda c=cur, b=base: paired_bootstrap(c.tolist(), b.tolist(), seed=0)),
            ("hand_written", lambda c=cur, b=base: _hand_written(c, b, 0)),
        ):
            fn()
            t0 = time.perf_counter()
            for _ in range(5):
                fn()
            timings[name] = (time.perf_counter() - t0) / 5
        rows.append(
            {
                "n": n,
                "scipy_s": round(timings["scipy"], 5),
                "hand_written_s": round(timings["hand_written"], 5),
                "ratio": round(timings["scipy"] / timings["hand_written"], 2),
            }
        )
    agree = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        base = rng.beta(2, 2, 60)
        cur = np.clip(base - rng.choice([0.0, 0.05, 0.1]) + rng.normal(0, 0.12, 60), 0, 1)
        res = paired_bootstrap(cur.tolist(), base.tolist(), seed=seed)
        _, high = _hand_written(cur, base, seed)
        drop = float(base.mean() - cur.mean()) > 0.02
        agree += (res.high < 0 and drop) == (high < 0 and drop)
    print(json.dumps({"per_call": rows, "decisions_agree_of_200": agree}, indent=2))


if __name__ == "__main__":
    main()
