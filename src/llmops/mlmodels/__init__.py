"""Classic ML model lifecycle on MLflow: spec, data checks, training, registry, serving, drift.

Nothing heavy is imported here: mlflow, scikit-learn and pandas load inside the functions.
"""

from __future__ import annotations

from llmops.mlmodels.drift import DriftReport, FeatureDrift, measure_drift, psi
from llmops.mlmodels.estimators import available_estimators, register_estimator, resolve_estimator
from llmops.mlmodels.metrics import (
    Metric,
    available_metrics,
    get_metric,
    register_metric,
    register_ml_metric,
)
from llmops.mlmodels.spec import ModelSpec, find_spec, load_spec

__all__ = [
    "DriftReport",
    "FeatureDrift",
    "Metric",
    "ModelSpec",
    "available_estimators",
    "available_metrics",
    "find_spec",
    "get_metric",
    "load_spec",
    "measure_drift",
    "psi",
    "register_estimator",
    "register_metric",
    "register_ml_metric",
    "resolve_estimator",
]
