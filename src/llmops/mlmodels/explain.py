"""Explanations of a fitted model: permutation importance, SHAP values, per-prediction reasons.

Permutation importance (scikit-learn) works for every estimator: how much the gate metric drops
on the held-out rows when one input column is shuffled. SHAP values (the ``shap`` package) are
computed with its exact explainers where one exists: ``TreeExplainer`` for tree ensembles and
``LinearExplainer`` for linear models. They are computed on the model's prepared inputs and
summed back per input column (a one-hot encoded column's parts add up, SHAP values being
additive), so every figure names a column the caller knows. The background for linear models
is the held-out rows, the same at training time, in ``llmops model explain`` and in the gateway.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from llmops.errors import UsageError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from llmops.mlmodels.spec import ModelSpec

__all__ = [
    "Contribution",
    "ExplanationReport",
    "FeatureImportance",
    "RowExplanation",
    "ShapExplainer",
    "build_report",
    "describe_row",
    "gate_scorer",
    "permutation_importances",
    "shap_explainer",
]

BACKGROUND_ROWS = 100


class FeatureImportance(BaseModel):
    """One input column's global importance."""

    model_config = ConfigDict(extra="forbid")

    feature: str
    mean: float
    std: float = 0.0


class Contribution(BaseModel):
    """One input column's share of one prediction (in the explainer's output units)."""

    model_config = ConfigDict(extra="forbid")

    feature: str
    value: Any = Field(description="the input value")
    contribution: float


class RowExplanation(BaseModel):
    """Why the model predicted what it did for one row: base value + contributions = output."""

    model_config = ConfigDict(extra="forbid")

    row: int | None = None
    prediction: Any
    explained: str = Field(description="what the numbers add up to, e.g. 'P(malignant)'")
    base_value: float
    output: float
    contributions: list[Contribution]
    rest: float = Field(0.0, description="the sum of the contributions not shown")


class ExplanationReport(BaseModel):
    """The explanation report logged with a training run (``explanation/report.json``)."""

    model_config = ConfigDict(extra="forbid")

    estimator: str
    metric: str
    rows: int
    permutation_repeats: int
    permutation: list[FeatureImportance]
    shap_kind: str | None = None
    shap_output: str | None = None
    shap: list[FeatureImportance] | None = None
    shap_rows: int = 0
    shap_note: str | None = None
    examples: list[RowExplanation] = Field(default_factory=list)
    seconds: dict[str, float] = Field(default_factory=dict)

    def markdown(self, top: int = 10) -> str:
        """Return the report as Markdown (logged as ``explanation/report.md``)."""
        lines = [
            f"# Explanation report: {self.estimator}",
            "",
            f"Permutation importance: drop in `{self.metric}` on {self.rows} held-out rows when "
            f"a column is shuffled ({self.permutation_repeats} repeats).",
            "",
            "| feature | importance | std |",
            "|---|---|---|",
        ]
        lines += [f"| {f.feature} | {f.mean:.4f} | {f.std:.4f} |" for f in self.permutation[:top]]
        lines.append("")
        if self.shap is not None:
            lines += [
                f"SHAP ({self.shap_kind} explainer): mean |SHAP| of {self.shap_output} over "
                f"{self.shap_rows} held-out rows.",
                "",
                "| feature | mean abs SHAP |",
                "|---|---|",
            ]
            lines += [f"| {f.feature} | {f.mean:.4f} |" for f in self.shap[:top]]
        else:
            lines.append(f"SHAP: not computed ({self.shap_note}).")
        for example in self.examples:
            lines += ["", *describe_row(example)]
        return "\n".join(lines) + "\n"


def describe_row(row: RowExplanation) -> list[str]:
    """Return a row explanation as Markdown lines."""
    head = f"held-out row {row.row}: " if row.row is not None else ""
    lines = [
        f"- {head}predicted `{row.prediction}`; {row.explained} = {row.output:.4f} = "
        f"base {row.base_value:.4f}"
    ]
    for c in row.contributions:
        lines.append(f"  - {c.contribution:+.4f} {c.feature} = {c.value}")
    if row.rest:
        lines.append(f"  - {row.rest:+.4f} the other columns")
    return lines


def gate_scorer(metric: str, task: str, pos: Any) -> Callable[[Any, Any, Any], float]:
    """Return ``scorer(estimator, x, y)`` for a metric, negated when lower is better."""
    from llmops.mlmodels.metrics import get_metric, score

    found = get_metric(metric, task)
    sign = 1.0 if found.higher_is_better else -1.0

    def scorer(estimator: Any, features: Any, target: Any) -> float:
        return sign * score(estimator, features, target, [found.name], task, pos)[found.name]

    return scorer


def permutation_importances(
    model: Any,
    x: pd.DataFrame,
    y: Any,
    scorer: Callable[[Any, Any, Any], float],
    *,
    repeats: int = 5,
    seed: int = 0,
) -> list[FeatureImportance]:
    """Return each input column's drop in score when shuffled, largest first."""
    from sklearn.inspection import permutation_importance

    result = permutation_importance(
        model, x, y, scoring=scorer, n_repeats=repeats, random_state=seed, n_jobs=1
    )
    out = [
        FeatureImportance(feature=str(name), mean=float(m), std=float(s))
        for name, m, s in zip(
            x.columns, result.importances_mean, result.importances_std, strict=True
        )
    ]
    return sorted(out, key=lambda f: -f.mean)


def _column_groups(prepare: Any) -> tuple[list[str], list[list[int]]]:
    """Map the prepared matrix's columns back to input columns (one-hot parts grouped)."""
    features: list[str] = []
    groups: list[list[int]] = []
    for name, transformer, columns in prepare.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        part = prepare.output_indices_[name]
        width = part.stop - part.start
        onehot = getattr(transformer, "named_steps", {}).get("onehot")
        sizes = [len(c) for c in onehot.categories_] if onehot is not None else [1] * len(columns)
        if sum(sizes) != width:
            raise UsageError(f"cannot map the prepared columns of step '{name}' to inputs")
        start = part.start
        for column, size in zip(columns, sizes, strict=True):
            features.append(str(column))
            groups.append(list(range(start, start + size)))
            start += size
    return features, groups


@dataclass
class ShapExplainer:
    """An exact SHAP explainer over a fitted llmops pipeline, reporting per input column."""

    kind: str  # "tree" or "linear"
    unit: str  # "probability", "log-odds" or "value"
    pipeline: Any
    explainer: Any
    features: list[str]
    groups: list[list[int]]
    classes: list[Any] | None
    positive: Any

    def _prepared(self, frame: pd.DataFrame) -> Any:
        import numpy as np

        matrix = self.pipeline.named_steps["prepare"].transform(frame[self.features])
        return np.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix, dtype=float)

    def label(self, cls: Any) -> str:
        """Return what the numbers explain for class ``cls`` (e.g. ``P(malignant)``)."""
        if self.classes is None:
            return "predicted value"
        if self.unit == "probability":
            return f"P({cls})"
        return f"log-odds({cls})" if len(self.classes) == 2 else f"logit({cls})"

    def explain(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[Any]]:
        """Return ``(values[row, feature], base[row], explained class per row)``.

        Binary models explain the positive class, multi-class models the predicted class and
        regressors the predicted value.
        """
        import numpy as np

        prepared = self._prepared(frame)
        found = self.explainer(prepared)
        values = np.asarray(found.values, dtype=float)
        base = np.asarray(found.base_values, dtype=float)
        n = len(frame)
        if base.ndim == 0:
            base = np.full(n, float(base))
        explained: list[Any] = [None] * n
        if self.classes is not None and values.ndim == 3:
            if len(self.classes) == 2:
                picks = np.full(n, self.classes.index(self.positive))
            else:
                predicted = list(self.pipeline.predict(frame[self.features]))
                picks = np.asarray([self.classes.index(c) for c in predicted])
            values = values[np.arange(n), :, picks]
            base = base.reshape(n, -1)[np.arange(n), picks]
            explained = [self.classes[i] for i in picks]
        elif self.classes is not None:
            # One output for a binary model: the score of classes[1].
            sign = 1.0 if self.positive == self.classes[1] else -1.0
            values, base = values * sign, base.reshape(n) * sign
            explained = [self.positive] * n
        else:
            base = base.reshape(n)
        per_input = np.stack([values[:, g].sum(axis=1) for g in self.groups], axis=1)
        return per_input, base, explained

    def rows(
        self, frame: pd.DataFrame, top: int, *, offset: int | None = 0
    ) -> list[RowExplanation]:
        """Return the top ``top`` contributions of each row of ``frame``."""
        values, base, explained = self.explain(frame)
        predictions = list(self.pipeline.predict(frame[self.features]))
        out: list[RowExplanation] = []
        for i in range(len(frame)):
            order = sorted(range(len(self.features)), key=lambda j: -abs(values[i, j]))
            shown = order[:top]
            record = frame.iloc[i]
            out.append(
                RowExplanation(
                    row=None if offset is None else offset + i,
                    prediction=_plain(predictions[i]),
                    explained=self.label(explained[i]),
                    base_value=float(base[i]),
                    output=float(base[i] + values[i].sum()),
                    contributions=[
                        Contribution(
                            feature=self.features[j],
                            value=_plain(record[self.features[j]]),
                            contribution=float(values[i, j]),
                        )
                        for j in shown
                    ],
                    rest=float(sum(values[i, j] for j in order[top:])),
                )
            )
        return out


def _plain(value: Any) -> Any:
    import math

    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def shap_explainer(
    pipeline: Any, background: pd.DataFrame, positive: Any = None, *, seed: int = 0
) -> ShapExplainer | str:
    """Return an exact SHAP explainer for ``pipeline``, or the reason there is none."""
    import numpy as np

    steps = getattr(pipeline, "named_steps", {})
    if "prepare" not in steps or "model" not in steps:
        return "not an llmops training pipeline"
    estimator = steps["model"]
    kind = _kind(estimator)
    if kind is None:
        return (
            f"{type(estimator).__name__} has no exact SHAP explainer (tree ensembles and "
            "linear models have); permutation importance covers it"
        )
    import shap

    features, groups = _column_groups(steps["prepare"])
    classes = list(estimator.classes_) if hasattr(estimator, "classes_") else None
    sample = background.sample(min(BACKGROUND_ROWS, len(background)), random_state=seed)
    matrix = steps["prepare"].transform(sample[features])
    matrix = np.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix, dtype=float)
    if kind == "tree":
        explainer = shap.TreeExplainer(estimator)
        output = str(getattr(explainer.model, "tree_output", "raw_value"))
        unit = {"probability": "probability", "log_odds": "log-odds"}.get(output, "value")
    else:
        explainer = shap.LinearExplainer(estimator, matrix)
        unit = "log-odds" if classes is not None else "value"
    if classes is not None and positive is None:
        positive = classes[-1]
    return ShapExplainer(kind, unit, pipeline, explainer, features, groups, classes, positive)


def _kind(estimator: Any) -> str | None:
    from sklearn.base import is_classifier
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.linear_model._base import LinearModel
    from sklearn.tree import BaseDecisionTree

    trees = (
        BaseDecisionTree, RandomForestClassifier, RandomForestRegressor, ExtraTreesClassifier,
        ExtraTreesRegressor, GradientBoostingClassifier, GradientBoostingRegressor,
        HistGradientBoostingClassifier, HistGradientBoostingRegressor,
    )  # fmt: skip
    if isinstance(estimator, trees):
        return "tree"
    if isinstance(estimator, LogisticRegression | LinearRegression):
        return "linear"
    # Ridge, Lasso, ElasticNet, SGD*: a coef_ and an intercept_ over the prepared columns.
    if isinstance(estimator, LinearModel) and hasattr(estimator, "coef_"):
        coef = getattr(estimator, "coef_", None)
        if not is_classifier(estimator) or (coef is not None and coef.shape[0] == 1):
            return "linear"
    return None


def build_report(
    model: Any, x: pd.DataFrame, y: Any, spec: ModelSpec, pos: Any
) -> ExplanationReport:
    """Explain a fitted pipeline on held-out rows ``(x, y)`` as the spec's ``explain`` asks."""
    settings = spec.explain
    started = time.perf_counter()
    report = ExplanationReport(
        estimator=type(getattr(model, "named_steps", {}).get("model", model)).__name__,
        metric=spec.gate_metric,
        rows=len(x),
        permutation_repeats=settings.permutation_repeats,
        permutation=permutation_importances(
            model,
            x,
            y,
            gate_scorer(spec.gate_metric, spec.task, pos),
            repeats=settings.permutation_repeats,
            seed=settings.seed,
        ),
    )
    report.seconds["permutation"] = round(time.perf_counter() - started, 3)
    if not settings.shap:
        report.shap_note = "explain.shap is off in the spec"
        return report
    started = time.perf_counter()
    found = shap_explainer(model, x, pos, seed=settings.seed)
    if isinstance(found, str):
        report.shap_note = found
        report.seconds["shap"] = round(time.perf_counter() - started, 3)
        return report
    sample = x.sample(min(settings.shap_rows, len(x)), random_state=settings.seed)
    values, _, explained = found.explain(sample)
    magnitude = abs(values)
    report.shap_kind, report.shap_rows = found.kind, len(sample)
    report.shap_output = (
        found.label(explained[0]) if found.classes is not None and len(found.classes) == 2
        else f"{found.unit} of the predicted class" if found.classes is not None
        else found.label(None)
    )  # fmt: skip
    report.shap = sorted(
        [
            FeatureImportance(feature=f, mean=float(magnitude[:, j].mean()),
                              std=float(magnitude[:, j].std()))
            for j, f in enumerate(found.features)
        ],
        key=lambda f: -f.mean,
    )  # fmt: skip
    if settings.examples:
        report.examples = found.rows(x.head(settings.examples), settings.top)
    report.seconds["shap"] = round(time.perf_counter() - started, 3)
    return report
