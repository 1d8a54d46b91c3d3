"""``llmops model train``: validate data, fit (optionally search), evaluate, track in MLflow."""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmops.errors import CheckFailedError, ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from llmops.config import Settings
    from llmops.mlmodels.spec import ModelSpec, SearchSpec

__all__ = ["TrainResult", "experiment_name", "train"]

PROFILE_ARTIFACT = "profile.json"
HOLDOUT_ARTIFACT = "holdout.csv"
SPEC_ARTIFACT = "spec.json"


@dataclass
class TrainResult:
    """What a training run produced."""

    run_id: str
    model_uri: str
    metrics: dict[str, float]
    params: dict[str, Any]
    dataset_hash: str
    rows: int
    threshold_failures: list[str] = field(default_factory=list)
    version: str | None = None
    trials: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Return True when every threshold was met."""
        return not self.threshold_failures


def experiment_name(settings: Settings, model: str) -> str:
    """Return the MLflow experiment that holds a model's training runs."""
    return f"{settings.mlflow.experiment}/models/{model}"


def _split(spec: ModelSpec, frame: pd.DataFrame, features: list[str]) -> tuple[Any, Any, Any, Any]:
    from sklearn.model_selection import train_test_split

    y = frame[spec.target]
    stratify = y if spec.task == "classification" and spec.split.stratify else None
    try:
        parts = train_test_split(
            frame[features],
            y,
            test_size=spec.split.test_size,
            random_state=spec.split.seed,
            stratify=stratify,
        )
    except ValueError as exc:
        raise CheckFailedError(
            f"cannot split {len(frame)} rows into train and validation: {exc}",
            hint="use more data, a different split.test_size, or split.stratify: false",
        ) from None
    return parts[0], parts[1], parts[2], parts[3]


def _make(
    spec: ModelSpec, params: dict[str, Any], numeric: list[str], categorical: list[str]
) -> Any:
    from llmops.mlmodels.estimators import build_pipeline, resolve_estimator

    factory = resolve_estimator(spec.estimator.name)
    try:
        estimator = factory(**params)
    except TypeError as exc:
        raise ConfigError(
            f"bad parameters for {spec.estimator.name}: {exc}",
            file=spec.file,
            key="estimator.params",
        ) from None
    return build_pipeline(estimator, numeric, categorical, scale=spec.estimator.scale)


def _fit(model: Any, x: Any, y: Any, name: str) -> Any:
    try:
        return model.fit(x, y)
    except ValueError as exc:
        raise CheckFailedError(f"{name} failed to fit: {exc}") from None


def _candidates(search: SearchSpec) -> list[dict[str, Any]]:
    from sklearn.model_selection import ParameterGrid, ParameterSampler

    grid = ParameterGrid(search.params)
    if len(grid) <= search.max_trials:
        return [dict(p) for p in grid]
    sampler = ParameterSampler(search.params, n_iter=search.max_trials, random_state=search.seed)
    return [dict(p) for p in sampler]


def _search(
    spec: ModelSpec,
    search: SearchSpec,
    x: Any,
    y: Any,
    numeric: list[str],
    categorical: list[str],
    pos: Any,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Cross-validate each candidate in a nested run; return the best params and all trials."""
    import mlflow
    import numpy as np
    from sklearn.model_selection import KFold, StratifiedKFold

    from llmops.mlmodels.metrics import get_metric, score

    metric = get_metric(spec.gate_metric, spec.task)
    folds = (
        StratifiedKFold(search.cv, shuffle=True, random_state=search.seed)
        if spec.task == "classification"
        else KFold(search.cv, shuffle=True, random_state=search.seed)
    )
    trials: list[dict[str, Any]] = []
    parent = mlflow.active_run()
    # Nested runs otherwise land in the default experiment, away from their parent.
    experiment = parent.info.experiment_id if parent is not None else None
    for i, candidate in enumerate(_candidates(search)):
        params = {**spec.estimator.params, **candidate}
        values = []
        for train_idx, test_idx in folds.split(x, y):
            model = _fit(
                _make(spec, params, numeric, categorical),
                x.iloc[train_idx],
                y.iloc[train_idx],
                spec.estimator.name,
            )
            got = score(model, x.iloc[test_idx], y.iloc[test_idx], [metric.name], spec.task, pos)
            values.append(got[metric.name])
        mean = float(np.mean(values))
        with mlflow.start_run(run_name=f"trial-{i}", nested=True, experiment_id=experiment):
            mlflow.log_params({k: json.dumps(v) for k, v in candidate.items()})
            mlflow.log_metric(f"cv_{metric.name}", mean)
            mlflow.set_tag("llmops.trial", str(i))
        trials.append({"trial": i, "params": candidate, f"cv_{metric.name}": mean})
    key = f"cv_{metric.name}"
    best = trials[0]
    for trial in trials[1:]:
        if metric.better(trial[key], best[key]) and trial[key] != best[key]:
            best = trial
    return {**spec.estimator.params, **best["params"]}, trials


def _positive(spec: ModelSpec, y: Any) -> Any:
    if spec.task != "classification":
        return None
    classes = sorted(y.dropna().unique().tolist(), key=str)
    if spec.positive_class is not None:
        matches = [c for c in classes if str(c) == str(spec.positive_class)]
        if not matches:
            raise ConfigError(
                f"positive_class {spec.positive_class!r} is not a class of '{spec.target}' "
                f"(classes: {', '.join(map(str, classes))})",
                file=spec.file,
                key="positive_class",
            )
        return matches[0]
    return classes[-1] if len(classes) == 2 else None


def _environment() -> dict[str, str]:
    import mlflow
    import pandas
    import sklearn

    from llmops.lineage import llmops_version

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "scikit-learn": sklearn.__version__,
        "pandas": pandas.__version__,
        "mlflow": mlflow.__version__,
        "llmops": llmops_version(),
    }


def train(
    spec: ModelSpec,
    settings: Settings,
    *,
    data: pd.DataFrame | None = None,
    source: str | None = None,
    register: bool = True,
    compare_stats: bool = True,
    tags: dict[str, str] | None = None,
) -> TrainResult:
    """Validate the data, fit, evaluate on the held-out split and log everything to MLflow.

    With ``register`` and every threshold met, the model becomes a new registered version with
    the ``challenger`` alias. ``compare_stats=False`` skips the statistics check against the
    champion's profile (retraining after drift expects the statistics to have moved).
    """
    import mlflow

    from llmops.lineage import git_commit
    from llmops.mlmodels import registry
    from llmops.mlmodels.data import feature_columns, load_dataset, profile_frame
    from llmops.mlmodels.metrics import get_metric, score
    from llmops.mlmodels.tracking import connect, experiment_id
    from llmops.mlmodels.validation import check_frame

    client = connect(settings)
    frame = data if data is not None else load_dataset(spec)
    source = source or (spec.dataset.path or f"sklearn:{spec.dataset.sklearn}")
    numeric, categorical = feature_columns(spec, frame)
    reference = registry.champion_profile(client, spec.name)
    frame = check_frame(
        frame,
        numeric,
        categorical,
        spec.target,
        spec.validation,
        source=source,
        task=spec.task,
        reference=reference,
        compare_stats=compare_stats,
    )
    features = [*numeric, *categorical]
    x_train, x_test, y_train, y_test = _split(spec, frame, features)
    pos = _positive(spec, frame[spec.target])
    profile = profile_frame(frame, numeric, categorical, spec.target, task=spec.task)
    wanted = list(dict.fromkeys([*spec.metrics, *spec.thresholds, spec.gate_metric]))
    exp = experiment_id(client, experiment_name(settings, spec.name), settings)
    commit = git_commit(settings.root)
    with mlflow.start_run(experiment_id=exp, run_name=f"train-{spec.name}") as run:
        mlflow.set_tags({
            "llmops.model": spec.name,
            "llmops.dataset_hash": profile.dataset_hash,
            "llmops.dataset": source,
            "llmops.git_commit": commit or "unknown",
            **{f"env.{k}": v for k, v in _environment().items()},
            **(tags or {}),
        })  # fmt: skip
        trials: list[dict[str, Any]] = []
        params = dict(spec.estimator.params)
        if spec.search is not None:
            params, trials = _search(spec, spec.search, x_train, y_train, numeric, categorical, pos)
        model = _fit(
            _make(spec, params, numeric, categorical), x_train, y_train, spec.estimator.name
        )
        metrics = score(model, x_test, y_test, wanted, spec.task, pos)
        logged = {
            "estimator": spec.estimator.name,
            **{f"estimator.{k}": json.dumps(v) for k, v in params.items()},
            "task": spec.task,
            "target": spec.target,
            "n_numeric": len(numeric),
            "n_categorical": len(categorical),
            "rows": len(frame),
            "test_size": spec.split.test_size,
            "split_seed": spec.split.seed,
            "positive_class": str(pos),
        }
        mlflow.log_params(logged)
        mlflow.log_metrics(metrics)
        failures = [
            f"{name} = {metrics[name]:.4f} does not meet the threshold {limit:g}"
            for name, limit in spec.thresholds.items()
            if not get_metric(name, spec.task).meets(metrics[name], limit)
        ]
        mlflow.set_tag("llmops.thresholds", "failed" if failures else "passed")
        mlflow.log_dict(profile.model_dump(mode="json"), PROFILE_ARTIFACT)
        mlflow.log_dict(spec.model_dump(mode="json", by_alias=True), SPEC_ARTIFACT)
        mlflow.log_text(
            x_test.assign(**{spec.target: y_test}).to_csv(index=False), HOLDOUT_ARTIFACT
        )
        if trials:
            mlflow.log_dict({"trials": trials}, "search.json")
        info = _log_model(model, x_train)
        mlflow.set_tag("llmops.model_uri", info.model_uri)
    result = TrainResult(
        run_id=run.info.run_id,
        model_uri=info.model_uri,
        metrics=metrics,
        params=params,
        dataset_hash=profile.dataset_hash,
        rows=len(frame),
        threshold_failures=failures,
        trials=trials,
    )
    if register and result.passed:
        result.version = registry.register(client, spec.name, result.run_id, info.model_uri)
    return result


def _log_model(model: Any, x_train: Any) -> Any:
    import mlflow
    import sklearn
    from mlflow.models import infer_signature
    from skops.io import dumps, get_untrusted_types  # type: ignore[import-untyped]

    signature = infer_signature(x_train, model.predict(x_train.head(5)))
    # skops refuses types it cannot vouch for (tree node arrays); this object was fitted in this
    # process from the spec, so its own types are the ones to trust when it is loaded back.
    trusted = get_untrusted_types(data=dumps(model))
    return mlflow.sklearn.log_model(
        model,
        name="model",
        signature=signature,
        skops_trusted_types=trusted,
        # Explicit requirements: inferring them imports and probes the whole environment (~10 s).
        pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"mlflow=={mlflow.__version__}"],
    )
