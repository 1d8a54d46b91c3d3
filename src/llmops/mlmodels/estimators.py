"""Estimator registry: short names -> scikit-learn classes, plus any dotted path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmops.errors import ConfigError
from llmops.registry import Registry, import_target

__all__ = [
    "ESTIMATORS",
    "available_estimators",
    "build_pipeline",
    "register_estimator",
    "resolve_estimator",
]

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

#: Estimators by short name; the built-ins are import paths, imported on first use.
ESTIMATORS: Registry[EstimatorFactory] = Registry(
    "estimator", builtins=_BUILTINS, key="estimator.name"
)


def register_estimator(name: str, factory: EstimatorFactory | str) -> None:
    """Make ``name`` usable in specs: a class/factory, or a dotted import path."""
    ESTIMATORS.register(name, factory)


def available_estimators() -> list[str]:
    """Return the registered short names."""
    return ESTIMATORS.names()


def resolve_estimator(name: str) -> EstimatorFactory:
    """Return the estimator class for ``name`` (or a dotted path); unknown names get a did-you-mean."""
    target = None if name in ESTIMATORS or "." not in name else name
    try:
        factory = ESTIMATORS.get(name) if target is None else import_target(target)
    except (ImportError, AttributeError):
        raise ConfigError(
            f"cannot import estimator '{target or name}'",
            key="estimator.name",
            hint="check the module path and that the package is installed",
        ) from None
    if not callable(factory):
        raise ConfigError(f"estimator '{name}' is not a class or factory", key="estimator.name")
    return factory


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
