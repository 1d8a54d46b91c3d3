"""Estimator registry: short names -> scikit-learn classes, plus any dotted path."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from llmops.errors import ConfigError
from llmops.files import did_you_mean

__all__ = ["available_estimators", "build_pipeline", "register_estimator", "resolve_estimator"]

EstimatorFactory = Callable[..., Any]

# Built-ins register as import paths so that nothing from sklearn loads until it is used.
_BUILTINS: dict[str, str] = {
    name: f"{module}.{name}"
    for module, names in {
        "sklearn.linear_model": [
            "LogisticRegression",
            "LinearRegression",
            "Ridge",
            "Lasso",
            "ElasticNet",
            "SGDClassifier",
        ],
        "sklearn.ensemble": [
            "RandomForestClassifier",
            "RandomForestRegressor",
            "GradientBoostingClassifier",
            "GradientBoostingRegressor",
            "HistGradientBoostingClassifier",
            "HistGradientBoostingRegressor",
            "ExtraTreesClassifier",
            "ExtraTreesRegressor",
        ],
        "sklearn.tree": ["DecisionTreeClassifier", "DecisionTreeRegressor"],
        "sklearn.neighbors": ["KNeighborsClassifier", "KNeighborsRegressor"],
        "sklearn.svm": ["SVC", "SVR"],
        "sklearn.naive_bayes": ["GaussianNB"],
    }.items()
    for name in names
}

_registry: dict[str, EstimatorFactory | str] = dict(_BUILTINS)


def register_estimator(name: str, factory: EstimatorFactory | str) -> None:
    """Make ``name`` usable in specs: a class/factory, or a dotted import path."""
    _registry[name] = factory


def available_estimators() -> list[str]:
    """Return the registered short names."""
    return sorted(_registry)


def _import(path: str) -> EstimatorFactory:
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise ImportError(path)
    module = importlib.import_module(module_name)
    factory = getattr(module, attr)
    if not callable(factory):
        raise ImportError(path)
    return factory  # type: ignore[no-any-return]


def resolve_estimator(name: str) -> EstimatorFactory:
    """Return the estimator class for ``name``; unknown names get a did-you-mean."""
    entry = _registry.get(name)
    if entry is None and "." in name:
        entry = name
    if entry is None:
        guess = did_you_mean(name, list(_registry))
        raise ConfigError(
            f"unknown estimator '{name}'" + (f" (did you mean '{guess}'?)" if guess else ""),
            key="estimator.name",
            hint="use a registered name or a dotted path such as sklearn.svm.SVC",
        )
    if not isinstance(entry, str):
        return entry
    try:
        return _import(entry)
    except (ImportError, AttributeError):
        raise ConfigError(
            f"cannot import estimator '{entry}'",
            key="estimator.name",
            hint="check the module path and that the package is installed",
        ) from None


def build_pipeline(
    estimator: Any, numeric: list[str], categorical: list[str], *, scale: bool = True
) -> Any:
    """Wrap ``estimator`` in imputation, scaling and one-hot encoding over named columns."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    steps: list[tuple[str, Any, list[str]]] = []
    if numeric:
        num_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
        if scale:
            num_steps.append(("scale", StandardScaler()))
        steps.append(("numeric", Pipeline(num_steps), numeric))
    if categorical:
        cat = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("onehot", OneHotEncoder(handle_unknown="ignore")),
            ]
        )
        steps.append(("categorical", cat, categorical))
    pre = ColumnTransformer(steps, remainder="drop")
    return Pipeline([("prepare", pre), ("model", estimator)])
