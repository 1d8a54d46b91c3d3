"""Tabular drift against the training profile: PSI and KS (numeric), chi-square (categorical)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    import pandas as pd

    from llmops.mlmodels.data import ColumnProfile, DataProfile
    from llmops.mlmodels.spec import DriftRule

__all__ = ["DriftReport", "FeatureDrift", "measure_drift", "psi"]

# PSI is undefined for empty bins; this floor is the usual smoothing.
EPS = 1e-4


class FeatureDrift(BaseModel):
    """Drift of one feature."""

    model_config = ConfigDict(extra="forbid")

    feature: str
    kind: str
    psi: float
    test: str
    statistic: float
    p_value: float
    drifted: bool


class DriftReport(BaseModel):
    """Drift of a batch against the training profile, per feature and overall."""

    model_config = ConfigDict(extra="forbid")

    rows: int
    features: list[FeatureDrift]
    drifted_features: list[str]
    drifted_share: float
    overall_psi: float
    alpha_per_feature: float
    fired: bool
    reason: str


def psi(expected: list[float], actual: list[float]) -> float:
    """Return the population stability index of two binned distributions (shares)."""
    import numpy as np

    e = np.clip(np.asarray(expected, dtype=float), EPS, None)
    a = np.clip(np.asarray(actual, dtype=float), EPS, None)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def _numeric(ref: ColumnProfile, values: pd.Series) -> tuple[float, float, float]:
    import numpy as np
    from scipy import stats

    x = values.dropna().to_numpy(dtype=float)
    counts = np.bincount(
        np.searchsorted(np.asarray(ref.bin_edges), x, side="right"),
        minlength=len(ref.bin_fractions),
    )
    value = psi(ref.bin_fractions, list(counts / max(x.size, 1)))
    result = stats.ks_2samp(np.asarray(ref.sample), x)
    return value, float(result.statistic), float(result.pvalue)


def _categorical(ref: ColumnProfile, values: pd.Series) -> tuple[float, float, float]:
    import numpy as np
    from scipy import stats

    x = values.dropna().astype(str)
    labels = sorted(set(ref.categories) | set(x.unique()))
    expected = np.array([ref.categories.get(k, 0.0) for k in labels])
    observed = np.array([int((x == k).sum()) for k in labels], dtype=float)
    value = psi(list(expected), list(observed / max(observed.sum(), 1)))
    # Unseen categories get a small expected share so the test stays defined (and significant).
    expected = np.clip(expected, EPS, None)
    expected = expected / expected.sum() * observed.sum()
    result = stats.chisquare(observed, expected)
    return value, float(result.statistic), float(result.pvalue)


def measure_drift(profile: DataProfile, batch: pd.DataFrame, rule: DriftRule) -> DriftReport:
    """Compare the features of ``batch`` to ``profile`` and apply the rule's thresholds.

    A feature drifts when its PSI reaches ``rule.psi_threshold`` or its test's p-value is below
    ``rule.p_value / n_features`` (Bonferroni, so that many features do not add up to false
    alarms). The rule fires when the share of drifted features exceeds ``max_drifted_share``.
    """
    feats = [c for c in profile.features if c.name in batch.columns]
    alpha = rule.p_value / max(len(feats), 1)
    results: list[FeatureDrift] = []
    for ref in feats:
        if ref.kind == "numeric":
            if not ref.sample:
                continue
            value, stat, p = _numeric(ref, batch[ref.name])
            test = "ks"
        else:
            value, stat, p = _categorical(ref, batch[ref.name])
            test = "chi2"
        is_drift = value >= rule.psi_threshold or p < alpha
        results.append(FeatureDrift(
            feature=ref.name, kind=ref.kind, psi=value, test=test, statistic=stat, p_value=p,
            drifted=is_drift,
        ))  # fmt: skip
    drifted = [r.feature for r in results if r.drifted]
    share = len(drifted) / len(results) if results else 0.0
    overall = sum(r.psi for r in results) / len(results) if results else 0.0
    rows = len(batch)
    if rows < rule.min_rows:
        fired, reason = False, f"only {rows} rows (min_rows {rule.min_rows}): not enough evidence"
    elif share > rule.max_drifted_share:
        fired = True
        reason = (
            f"{len(drifted)}/{len(results)} features drifted ({share:.0%} > "
            f"{rule.max_drifted_share:.0%})"
        )
    else:
        fired = False
        reason = (
            f"{len(drifted)}/{len(results)} features drifted ({share:.0%} <= "
            f"{rule.max_drifted_share:.0%})"
        )
    return DriftReport(
        rows=rows,
        features=results,
        drifted_features=drifted,
        drifted_share=share,
        overall_psi=overall,
        alpha_per_feature=alpha,
        fired=fired,
        reason=reason,
    )
