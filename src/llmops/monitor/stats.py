"""The statistics behind every monitor figure: intervals, reweighting, corrections and tests.

- ``wilson``: the Wilson score interval of a proportion (sane at 0 %, 100 % and small n).
- ``ht_rate``: a Horvitz-Thompson (ratio) estimate from a sample with known inclusion
  probabilities, its design variance under Poisson sampling plus the process variance, and a
  Wilson interval at the matching effective sample size.
- ``rogan_gladen``: a rate measured by an imperfect detector (a judge) corrected for its
  sensitivity and specificity against human labels, with a delta-method interval that carries
  the calibration set's own uncertainty.
- ``binned_test``: a two-sample permutation test for counts (histograms, categories, yes/no):
  the null draws split the pooled counts at random (multivariate hypergeometric), so the p-value
  is exact at any sample size; statistics are PSI, KS distance, chi-square and rate difference.
  Draws stop early (Besag-Clifford) once ten null statistics reach the observed one.
- ``hist_quantile``: a percentile from a fixed histogram with a distribution-free interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "Rate",
    "TestResult",
    "binned_test",
    "chi2_stat",
    "hist_quantile",
    "ht_rate",
    "ks_stat",
    "psi_stat",
    "rate_diff_stat",
    "rogan_gladen",
    "wilson",
]

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Rate:
    """A proportion with its 95 % interval and the sample it rests on."""

    value: float
    low: float
    high: float
    n: float  # observations (or effective sample size for weighted estimates)

    def as_dict(self) -> dict[str, float]:
        """Return rounded figures for reports."""
        return {
            "value": round(self.value, 4),
            "low": round(self.low, 4),
            "high": round(self.high, 4),
            "n": round(self.n, 1),
        }


def wilson(successes: float, n: float, z: float = Z95) -> Rate | None:
    """Return the Wilson interval of ``successes / n`` (None when n is 0)."""
    if n <= 0:
        return None
    p = min(1.0, max(0.0, successes / n))
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Rate(p, max(0.0, centre - half), min(1.0, centre + half), n)


def ht_rate(sum_w: float, sum_wy: float, sum_a: float, sum_ay: float, sum_w2: float) -> Rate | None:
    """Return the reweighted rate of a Poisson sample (weights ``w = 1/pi``).

    ``a = (1 - pi) / pi**2`` carries the design variance: ``sum a (y - R)^2 / N^2``, which is 0
    when every trace was scored. The process variance ``R (1 - R) / N`` is added, and the
    interval is Wilson's at the effective sample size ``R (1 - R) / Var`` (Kish's when R is 0 or
    1).
    """
    if sum_w <= 0:
        return None
    rate = min(1.0, max(0.0, sum_wy / sum_w))
    design = max(0.0, sum_ay * (1 - 2 * rate) + rate * rate * sum_a) / (sum_w * sum_w)
    var = design + rate * (1 - rate) / sum_w
    kish = sum_w * sum_w / sum_w2 if sum_w2 > 0 else sum_w
    n_eff = rate * (1 - rate) / var if 0 < rate < 1 and var > 0 else kish
    n_eff = max(1.0, min(n_eff, kish, sum_w))
    found = wilson(rate * n_eff, n_eff)
    return Rate(rate, found.low, found.high, n_eff) if found else None


def rogan_gladen(
    observed: Rate, sensitivity: float, specificity: float, n_pos: int, n_neg: int
) -> tuple[Rate | None, str]:
    """Correct ``observed`` for a detector's error rates; return (rate, note).

    ``sensitivity`` is P(detector says positive | truly positive) measured on ``n_pos`` human
    positives, ``specificity`` P(negative | negative) on ``n_neg``. Returns None with the reason
    when the detector is no better than chance (Youden's J <= 0.05).
    """
    j = sensitivity + specificity - 1
    if j <= 0.05:
        return None, f"no correction: the detector is no better than chance (J = {j:.2f})"
    p = observed.value
    pi = min(1.0, max(0.0, (p + specificity - 1) / j))
    var_p = p * (1 - p) / max(observed.n, 1.0)
    var_se = sensitivity * (1 - sensitivity) / max(n_pos, 1)
    var_sp = specificity * (1 - specificity) / max(n_neg, 1)
    var = (var_p + pi * pi * var_se + (1 - pi) * (1 - pi) * var_sp) / (j * j)
    half = Z95 * math.sqrt(var)
    note = (
        f"corrected for the judge's error rates (Rogan-Gladen): sensitivity {sensitivity:.2f} "
        f"on {n_pos}, specificity {specificity:.2f} on {n_neg} human labels"
    )
    return Rate(pi, max(0.0, pi - half), min(1.0, pi + half), observed.n), note


# -- permutation tests on counts -----------------------------------------------------------------

Stat = Callable[["npt.NDArray[np.float64]", "npt.NDArray[np.float64]"], "npt.NDArray[np.float64]"]


def _props(counts: npt.NDArray[np.float64], smooth: float = 0.0) -> npt.NDArray[np.float64]:
    c = counts + smooth
    total = c.sum(axis=-1, keepdims=True)
    total[total == 0] = 1
    return c / total  # type: ignore[no-any-return]


def psi_stat(ref: npt.NDArray[np.float64], cur: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Return the population stability index (half a count added to every bin)."""
    import numpy as np

    r, c = _props(ref, 0.5), _props(cur, 0.5)
    return np.sum((c - r) * np.log(c / r), axis=-1)  # type: ignore[no-any-return]


def ks_stat(ref: npt.NDArray[np.float64], cur: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Return the KS distance between two histograms on the same bins."""
    import numpy as np

    diff = np.cumsum(_props(ref), axis=-1) - np.cumsum(_props(cur), axis=-1)
    return np.max(np.abs(diff), axis=-1)  # type: ignore[no-any-return]


def chi2_stat(
    ref: npt.NDArray[np.float64], cur: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Return the chi-square statistic of homogeneity of two count vectors."""
    import numpy as np

    both = ref + cur
    n_r = ref.sum(axis=-1, keepdims=True)
    n_c = cur.sum(axis=-1, keepdims=True)
    total = np.maximum(n_r + n_c, 1)
    e_r = both * n_r / total
    e_c = both * n_c / total
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (ref - e_r) ** 2 / e_r + (cur - e_c) ** 2 / e_c
    return np.where(np.isfinite(terms), terms, 0.0).sum(axis=-1)  # type: ignore[no-any-return]


def rate_diff_stat(
    ref: npt.NDArray[np.float64], cur: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Return |rate_cur - rate_ref| for two [no, yes] count pairs."""
    import numpy as np

    return np.abs(_props(cur)[..., 1] - _props(ref)[..., 1])


@dataclass(frozen=True)
class TestResult:
    """A two-sample test: statistic, p-value and the sample sizes behind it."""

    __test__ = False  # not a pytest class

    statistic: float
    p_value: float
    n_ref: int
    n_cur: int


def binned_test(
    ref: Sequence[float],
    cur: Sequence[float],
    stat: Stat,
    *,
    permutations: int = 1000,
    seed: int = 0,
) -> TestResult:
    """Return ``stat``'s permutation p-value for two count vectors over the same categories."""
    import numpy as np

    r = np.asarray(ref, dtype=np.float64)
    c = np.asarray(cur, dtype=np.float64)
    observed = float(stat(r, c))
    n_cur = int(c.sum())
    pooled = (r + c).astype(np.int64)
    if n_cur == 0 or int(r.sum()) == 0 or np.count_nonzero(pooled) < 2:
        return TestResult(observed, 1.0, int(r.sum()), n_cur)
    rng = np.random.default_rng(seed)
    exceed = done = 0
    while done < permutations:  # Besag-Clifford: stop once the p-value is clearly large
        size = min(50, permutations - done)
        null_cur = rng.multivariate_hypergeometric(
            pooled, n_cur, size=size, method="marginals"
        ).astype(np.float64)
        null = stat(pooled - null_cur, null_cur)
        exceed += int(np.sum(null >= observed - 1e-12))
        done += size
        if exceed >= 10:
            break
    return TestResult(observed, (1 + exceed) / (1 + done), int(r.sum()), n_cur)


# -- percentiles from histograms -----------------------------------------------------------------


def _value_at_rank(edges: Sequence[float], counts: Sequence[float], rank: float) -> float:
    """Return the value below which ``rank`` observations fall (linear within a bin)."""
    seen = 0.0
    lows = [edges[0] / 2 if edges[0] > 0 else 0.0, *edges]
    highs = [*edges, edges[-1] * 2 if edges[-1] > 0 else edges[-1] + 1]
    for low, high, count in zip(lows, highs, counts, strict=True):
        if count and seen + count >= rank:
            return float(low + (high - low) * (rank - seen) / count)
        seen += count
    return float(highs[-1])


def hist_quantile(
    edges: Sequence[float], counts: Sequence[float], q: float
) -> tuple[float, float, float] | None:
    """Return (estimate, low, high) of the ``q`` quantile from histogram counts.

    The interval takes the order statistics whose ranks bracket ``n q`` with 95 % binomial
    probability; values are interpolated within bins, so they are as fine as the bins.
    """
    n = float(sum(counts))
    if n <= 0:
        return None
    spread = Z95 * math.sqrt(n * q * (1 - q))
    at = _value_at_rank(edges, counts, n * q)
    lo = _value_at_rank(edges, counts, max(0.0, n * q - spread))
    hi = _value_at_rank(edges, counts, min(n, n * q + spread + 1))
    return at, lo, hi
