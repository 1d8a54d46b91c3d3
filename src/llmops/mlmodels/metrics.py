"""Held-out metrics by name, with their direction (higher or lower is better)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmops.errors import ConfigError
from llmops.registry import Registry

__all__ = [
    "ML_METRICS",
    "Metric",
    "available_metrics",
    "get_metric",
    "register_metric",
    "register_ml_metric",
    "score",
]


@dataclass(frozen=True)
class Metric:
    """A metric: ``fn(y_true, y_pred, y_score, pos_label) -> float`` and its direction."""

    name: str
    task: str
    fn: Callable[[Any, Any, Any, Any], float]
    higher_is_better: bool = True

    def better(self, a: float, b: float, margin: float = 0.0) -> bool:
        """Return True when ``a`` beats ``b`` by at least ``margin``."""
        return a - b >= margin if self.higher_is_better else b - a >= margin

    def meets(self, value: float, threshold: float) -> bool:
        """Return True when ``value`` satisfies the threshold (a floor, or a ceiling for errors)."""
        return value >= threshold if self.higher_is_better else value <= threshold


def _binary(y_true: Any) -> bool:
    import numpy as np

    return len(np.unique(y_true)) <= 2


def _accuracy(y: Any, p: Any, s: Any, pos: Any) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y, p))


def _prf(kind: str) -> Callable[[Any, Any, Any, Any], float]:
    def fn(y: Any, p: Any, s: Any, pos: Any) -> float:
        from sklearn import metrics

        f = {"f1": metrics.f1_score, "precision": metrics.precision_score}.get(
            kind, metrics.recall_score
        )
        if _binary(y) and pos is not None:
            return float(f(y, p, pos_label=pos, zero_division=0))
        return float(f(y, p, average="macro", zero_division=0))

    return fn


def _roc_auc(y: Any, p: Any, s: Any, pos: Any) -> float:
    from sklearn.metrics import roc_auc_score

    if s is None:
        raise ConfigError("roc_auc needs an estimator with predict_proba")
    proba, classes = s
    if len(classes) == 2:
        col = list(classes).index(pos) if pos in list(classes) else 1
        return float(roc_auc_score([c == classes[col] for c in y], proba[:, col]))
    return float(roc_auc_score(y, proba, multi_class="ovr", labels=list(classes)))


def _log_loss(y: Any, p: Any, s: Any, pos: Any) -> float:
    from sklearn.metrics import log_loss

    if s is None:
        raise ConfigError("log_loss needs an estimator with predict_proba")
    proba, classes = s
    return float(log_loss(y, proba, labels=list(classes)))


def _rmse(y: Any, p: Any, s: Any, pos: Any) -> float:
    from sklearn.metrics import root_mean_squared_error

    return float(root_mean_squared_error(y, p))


def _mae(y: Any, p: Any, s: Any, pos: Any) -> float:
    from sklearn.metrics import mean_absolute_error

    return float(mean_absolute_error(y, p))


def _r2(y: Any, p: Any, s: Any, pos: Any) -> float:
    from sklearn.metrics import r2_score

    return float(r2_score(y, p))


#: One registry per task (``classification``, ``regression``, or a task a plugin adds).
ML_METRICS: dict[str, Registry[Metric]] = {}


def _for_task(task: str) -> Registry[Metric]:
    if task not in ML_METRICS:
        ML_METRICS[task] = Registry(f"{task} metric", key="metrics")
    return ML_METRICS[task]


def register_ml_metric(metric: Metric) -> None:
    """Make a metric usable in specs under ``metric.name`` for ``metric.task``."""
    _for_task(metric.task).register(metric.name, metric)


#: The first name of ``register_ml_metric`` (kept: it is public API).
register_metric = register_ml_metric

for _m in (
    Metric("accuracy", "classification", _accuracy),
    Metric("f1", "classification", _prf("f1")),
    Metric("precision", "classification", _prf("precision")),
    Metric("recall", "classification", _prf("recall")),
    Metric("roc_auc", "classification", _roc_auc),
    Metric("log_loss", "classification", _log_loss, higher_is_better=False),
    Metric("rmse", "regression", _rmse, higher_is_better=False),
    Metric("mae", "regression", _mae, higher_is_better=False),
    Metric("r2", "regression", _r2),
):
    register_ml_metric(_m)


def available_metrics(task: str) -> list[str]:
    """Return the metric names usable for ``task``."""
    return _for_task(task).names()


def get_metric(name: str, task: str) -> Metric:
    """Return the metric ``name`` for ``task``; unknown names get a did-you-mean."""
    return _for_task(task).get(name)


def score(
    model: Any, x: Any, y: Any, names: list[str], task: str, pos_label: Any
) -> dict[str, float]:
    """Return ``{metric: value}`` for a fitted model on ``(x, y)``."""
    pred = model.predict(x)
    proba = None
    if task == "classification" and hasattr(model, "predict_proba"):
        try:
            proba = (model.predict_proba(x), list(model.classes_))
        except AttributeError:  # e.g. SVC without probability=True
            proba = None
    return {n: get_metric(n, task).fn(y, pred, proba, pos_label) for n in names}
