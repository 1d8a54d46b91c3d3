"""Subgroup metrics and fairness measures (fairlearn) on held-out rows, judged against bounds.

Each sensitive attribute is judged on its own: the rows are grouped by its value (or by the
spec's ``bins`` for a numeric column), per-group selection rate, accuracy, true and false
positive rates and the confusion counts are computed with fairlearn's ``MetricFrame``, and the
three measures (demographic parity difference and ratio, equalized odds difference) with
fairlearn's functions over the groups that have at least ``min_group_size`` rows. A 95% interval
from a row bootstrap is shown next to each measure; the gate judges the point value.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from llmops.errors import CheckFailedError, ConfigError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from llmops.mlmodels.spec import FairnessSpec, SensitiveAttribute

__all__ = [
    "AttributeFairness",
    "FairnessReport",
    "GroupMetrics",
    "Measure",
    "assess_fairness",
    "group_labels",
]

MEASURES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
)
# A ratio bound is a floor; the differences are ceilings.
FLOOR = {"demographic_parity_ratio"}
MISSING = "(missing)"


class GroupMetrics(BaseModel):
    """One group's held-out figures (positive = the spec's positive class)."""

    model_config = ConfigDict(extra="forbid")

    group: str
    rows: int
    judged: bool = Field(description="False when the group is smaller than min_group_size")
    selection_rate: float
    accuracy: float
    true_positive_rate: float | None
    false_positive_rate: float | None
    tn: int
    fp: int
    fn: int
    tp: int


class Measure(BaseModel):
    """One fairness measure for one attribute, its interval and its bound."""

    model_config = ConfigDict(extra="forbid")

    name: str
    value: float | None
    low: float | None = None
    high: float | None = None
    bound: float | None = None
    broken: bool = False

    def describe(self) -> str:
        """Return e.g. ``equalized_odds_difference 0.260 > 0.2 (95% CI 0.10-0.41)``."""
        value = "undefined" if self.value is None else f"{self.value:.3f}"
        text = self.name + " " + value
        if self.bound is not None:
            ok = not self.broken
            sign = (">=" if ok else "<") if self.name in FLOOR else ("<=" if ok else ">")
            text += f" {sign} {self.bound:g}"
        if self.low is not None and self.high is not None:
            text += f" (95% CI {self.low:.2f}-{self.high:.2f})"
        return text


class AttributeFairness(BaseModel):
    """The groups of one sensitive attribute and its measures."""

    model_config = ConfigDict(extra="forbid")

    attribute: str
    groups: list[GroupMetrics]
    measures: list[Measure]
    note: str | None = None

    @property
    def breaches(self) -> list[str]:
        """Return one line per broken bound, with the groups' sizes and selection rates."""
        judged = ", ".join(
            f"{g.group} n={g.rows} selection {g.selection_rate:.2f}"
            for g in self.groups
            if g.judged
        )
        return [
            f"{self.attribute}: {m.describe()}; groups {judged}" for m in self.measures if m.broken
        ]


class FairnessReport(BaseModel):
    """Fairness of one model on held-out rows; logged as ``fairness.json`` with the run."""

    model_config = ConfigDict(extra="forbid")

    positive_class: str
    rows: int
    min_group_size: int
    attributes: list[AttributeFairness]

    @property
    def breaches(self) -> list[str]:
        """Return every broken bound across the attributes."""
        return [line for a in self.attributes for line in a.breaches]

    @property
    def passed(self) -> bool:
        """Return True when no bound is broken."""
        return not self.breaches

    def metrics(self) -> dict[str, float]:
        """Return ``{fairness.<attribute>.<measure>: value}`` for MLflow."""
        return {
            f"fairness.{a.attribute}.{m.name}": m.value
            for a in self.attributes
            for m in a.measures
            if m.value is not None
        }


def _bin_label(low: float | None, high: float | None) -> str:
    if low is None:
        return f"<{high:g}"
    if high is None:
        return f">={low:g}"
    return f"{low:g}-{high:g}"


def group_labels(frame: pd.DataFrame, attribute: SensitiveAttribute) -> pd.Series:
    """Return the group of every row for ``attribute`` (bins for a numeric column)."""
    import numpy as np
    import pandas as pd

    if attribute.column not in frame.columns:
        raise CheckFailedError(
            f"sensitive attribute '{attribute.column}' is not a column of the data",
            hint="fix fairness.sensitive in the spec or add the column to the dataset",
        )
    series = frame[attribute.column]
    if attribute.bins is None:
        return series.astype(object).where(series.notna(), MISSING).astype(str)
    values = pd.to_numeric(series, errors="coerce")
    if values[series.notna()].isna().any():
        raise ConfigError(
            f"fairness.sensitive '{attribute.column}' has bins but non-numeric values",
            key="fairness.sensitive",
            hint="drop 'bins' for a categorical column",
        )
    edges = [None, *attribute.bins, None]
    labels = [_bin_label(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]
    index = np.searchsorted(np.asarray(attribute.bins, dtype=float), values.fillna(0), side="right")
    out = pd.Series([labels[i] for i in index], index=series.index, dtype=object)
    return out.where(values.notna(), MISSING).astype(str)


def _rate(num: Any, den: Any) -> Any:
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def _measures_from_counts(counts: np.ndarray) -> np.ndarray:
    """``counts[..., group, (tn, fp, fn, tp)]`` -> ``[..., (dpd, dpr, eod)]`` (nan if undefined)."""
    import numpy as np

    tn, fp, fn, tp = (counts[..., k] for k in range(4))
    rows = tn + fp + fn + tp
    selection = _rate(fp + tp, rows)
    tpr, fpr = _rate(tp, tp + fn), _rate(fp, fp + tn)
    with np.errstate(invalid="ignore", divide="ignore"):
        dpd = selection.max(axis=-1) - selection.min(axis=-1)
        top = selection.max(axis=-1)
        dpr = np.where(top > 0, selection.min(axis=-1) / np.where(top > 0, top, 1), np.nan)
        eod = np.maximum(tpr.max(axis=-1) - tpr.min(axis=-1), fpr.max(axis=-1) - fpr.min(axis=-1))
    return np.stack([dpd, dpr, eod], axis=-1)


def _bootstrap(codes: Any, y: Any, p: Any, groups: int, resamples: int, seed: int) -> Any:
    """Return ``[resample, measure]`` from resampling the rows with replacement."""
    import numpy as np

    rng = np.random.default_rng(seed)
    cell = codes * 4 + (y.astype(int) * 2 + p.astype(int))  # (tn, fp, fn, tp) per group
    out = np.empty((resamples, 3))
    size = groups * 4
    for i in range(resamples):
        pick = rng.integers(0, len(cell), len(cell))
        counts = np.bincount(cell[pick], minlength=size).reshape(groups, 4)
        out[i] = _measures_from_counts(counts)
    return out


def _assess_attribute(
    y: Any, p: Any, labels: pd.Series, spec: FairnessSpec, name: str
) -> AttributeFairness:
    import numpy as np
    from fairlearn.metrics import (
        MetricFrame,
        count,
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score

    def cell(kind: int) -> Any:
        return lambda t, q: int(np.sum((np.asarray(t) * 2 + np.asarray(q)) == kind))

    def safe(fn: Any) -> Any:
        # fairlearn warns and returns nan/0 when a group has no actual positives (or negatives).
        def metric(t: Any, q: Any) -> float:
            t = np.asarray(t)
            wanted = 1 if fn is true_positive_rate else 0
            return float(fn(t, q)) if np.any(t == wanted) else math.nan

        return metric

    frame = MetricFrame(
        metrics={
            "rows": count, "selection_rate": selection_rate, "accuracy": accuracy_score,
            "true_positive_rate": safe(true_positive_rate),
            "false_positive_rate": safe(false_positive_rate),
            "tn": cell(0), "fp": cell(1), "fn": cell(2), "tp": cell(3),
        },
        y_true=y, y_pred=p, sensitive_features=labels.to_numpy(),
    )  # fmt: skip
    by_group = frame.by_group
    groups: list[GroupMetrics] = []
    for group, row in by_group.iterrows():
        groups.append(
            GroupMetrics(
                group=str(group),
                rows=int(row["rows"]),
                judged=int(row["rows"]) >= spec.min_group_size,
                selection_rate=float(row["selection_rate"]),
                accuracy=float(row["accuracy"]),
                true_positive_rate=_finite(row["true_positive_rate"]),
                false_positive_rate=_finite(row["false_positive_rate"]),
                tn=int(row["tn"]),
                fp=int(row["fp"]),
                fn=int(row["fn"]),
                tp=int(row["tp"]),
            )  # fmt: skip
        )
    judged = [g.group for g in groups if g.judged]
    result = AttributeFairness(attribute=name, groups=groups, measures=[])
    if len(judged) < 2:
        result.note = (
            f"fewer than two groups with at least {spec.min_group_size} held-out rows: not judged"
        )
        return result
    keep = labels.isin(judged).to_numpy()
    yk, pk, lk = y[keep], p[keep], labels.to_numpy()[keep]
    undefined = any(
        g.true_positive_rate is None or g.false_positive_rate is None for g in groups if g.judged
    )
    values = {
        "demographic_parity_difference": demographic_parity_difference(
            yk, pk, sensitive_features=lk
        ),
        "demographic_parity_ratio": demographic_parity_ratio(yk, pk, sensitive_features=lk),
        "equalized_odds_difference": None
        if undefined
        else equalized_odds_difference(yk, pk, sensitive_features=lk),
    }
    intervals: dict[str, tuple[float | None, float | None]] = {}
    if spec.bootstrap:
        codes = np.searchsorted(np.asarray(sorted(judged)), lk)
        boot = _bootstrap(codes, yk, pk, len(judged), spec.bootstrap, seed=0)
        for k, measure in enumerate(MEASURES):
            column = boot[:, k][np.isfinite(boot[:, k])]
            if column.size:
                low, high = np.quantile(column, [0.025, 0.975])
                intervals[measure] = (float(low), float(high))
    for measure in MEASURES:
        value = _finite(values[measure])
        bound = getattr(spec.bounds, measure)
        broken = False
        if bound is not None:
            # An undefined measure cannot show the bound holds: the gate refuses.
            broken = value is None or (value < bound if measure in FLOOR else value > bound)
        low, high = intervals.get(measure, (None, None))
        result.measures.append(
            Measure(name=measure, value=value, low=low, high=high, bound=bound, broken=broken)
        )
    if undefined:
        result.note = (
            "a judged group has no actual positives or negatives: equalized odds undefined"
        )
    return result


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def assess_fairness(
    y_true: Any, y_pred: Any, sensitive: pd.DataFrame, spec: FairnessSpec, positive: Any
) -> FairnessReport:
    """Return subgroup metrics and fairness measures of predictions on held-out rows."""
    import numpy as np

    y = np.asarray([str(v) == str(positive) for v in y_true], dtype=int)
    p = np.asarray([str(v) == str(positive) for v in y_pred], dtype=int)
    attributes = [
        _assess_attribute(y, p, group_labels(sensitive, a).reset_index(drop=True), spec, a.column)
        for a in spec.attributes
    ]
    return FairnessReport(
        positive_class=str(positive),
        rows=len(y),
        min_group_size=spec.min_group_size,
        attributes=attributes,
    )
