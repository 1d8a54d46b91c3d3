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
    from llmops.mlmodels.explain import ExplanationReport
    from llmops.mlmodels.fairness import FairnessReport
    from llmops.mlmodels.spec import ModelSpec, SearchSpec
    from llmops.mlmodels.validation import Columns

__all__ = ["TrainOptions", "TrainResult", "experiment_name", "train"]

PROFILE_ARTIFACT = "profile.json"
HOLDOUT_ARTIFACT = "holdout.csv"
SPEC_ARTIFACT = "spec.json"
FAIRNESS_ARTIFACT = "fairness.json"
EXPLANATION_ARTIFACT = "explanation/report.json"
EXPLANATION_MARKDOWN = "explanation/report.md"


@dataclass
class TrainOptions:
    """How a training run behaves beyond its spec and data."""

    register: bool = True
    compare_stats: bool = True
    tags: dict[str, str] = field(default_factory=dict)
    force: bool = False


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
    holdout_hash: str | None = None
    unchanged_since: str | None = None
    fairness: FairnessReport | None = None
    explanation: ExplanationReport | None = None

    @property
    def passed(self) -> bool:
        """Return True when every threshold was met."""
        return not self.threshold_failures

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary."""
        return {
            "run_id": self.run_id, "version": self.version, "metrics": self.metrics,
            "params": self.params, "rows": self.rows, "dataset_hash": self.dataset_hash,
            "holdout_hash": self.holdout_hash, "unchanged_since": self.unchanged_since,
            "trials": self.trials, "threshold_failures": self.threshold_failures,
            "fairness": self.fairness.model_dump(mode="json") if self.fairness else None,
            "fairness_breaches": self.fairness.breaches if self.fairness else [],
            "explanation": self.explanation.model_dump(mode="json") if self.explanation else None,
        }  # fmt: skip


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
    columns: Columns,
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
                _make(spec, params, columns.numeric, columns.categorical),
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
    options: TrainOptions | None = None,
) -> TrainResult:
    """Validate the data, fit, evaluate on the held-out split and log everything to MLflow.

    With ``options.register`` and every threshold met, the model becomes a new registered
    version with the ``challenger`` alias, unless a registered version was trained on the same
    data with the same configuration (then that version is returned, ``unchanged_since`` set,
    and nothing is trained; ``options.force`` trains anyway). ``compare_stats=False`` skips the
    statistics check against the champion's profile (retraining after drift expects the
    statistics to have moved). Fairness (when the spec has it) and the explanation report are
    computed on the held-out rows and logged with the run.
    """
    import mlflow

    from llmops.lineage import git_commit
    from llmops.mlmodels import registry, versions
    from llmops.mlmodels.data import dataset_hash, feature_columns, load_dataset, profile_frame
    from llmops.mlmodels.metrics import get_metric, score
    from llmops.mlmodels.tracking import connect, experiment_id
    from llmops.mlmodels.validation import Columns, check_frame

    options = options or TrainOptions()
    client = connect(settings)
    frame = data if data is not None else load_dataset(spec)
    source = source or (spec.dataset.path or f"sklearn:{spec.dataset.sklearn}")
    numeric, categorical = feature_columns(spec, frame)
    sensitive = _sensitive_columns(spec, frame, [*numeric, *categorical])
    reference = registry.champion_profile(client, spec.name)
    columns = Columns(numeric, categorical, spec.target, spec.task)
    frame = check_frame(
        frame,
        columns,
        spec.validation,
        source=source,
        reference=reference,
        compare_stats=options.compare_stats,
    )
    features = [*numeric, *categorical]
    profile = profile_frame(frame, numeric, categorical, spec.target, task=spec.task)
    config = versions.config_hash(spec, numeric, categorical)
    name = experiment_name(settings, spec.name)
    if options.register and not options.force:
        found = client.get_experiment_by_name(name)
        existing = versions.find_unchanged(
            client, spec.name, found.experiment_id if found else None, profile.dataset_hash, config
        )
        if existing is not None:
            return TrainResult(
                run_id=existing.run_id, model_uri=existing.model_uri, metrics=existing.metrics,
                params=existing.params, dataset_hash=profile.dataset_hash, rows=len(frame),
                version=existing.version, unchanged_since=existing.version,
            )  # fmt: skip
    x_train, x_test, y_train, y_test = _split(spec, frame, features)
    pos = _positive(spec, frame[spec.target])
    if spec.fairness is not None and pos is None:
        raise ConfigError(
            f"fairness checks need a binary target; '{spec.target}' has "
            f"{frame[spec.target].nunique()} classes",
            file=spec.file,
            key="fairness",
        )
    holdout = x_test.assign(**{spec.target: y_test})
    for column in sensitive:
        holdout[column] = frame.loc[x_test.index, column]
    hashes = {"dataset": profile.dataset_hash, "holdout": dataset_hash(holdout)}
    wanted = list(dict.fromkeys([*spec.metrics, *spec.thresholds, spec.gate_metric]))
    exp = experiment_id(client, name, settings)
    commit = git_commit(settings.root)
    with mlflow.start_run(experiment_id=exp, run_name=f"train-{spec.name}") as run:
        mlflow.set_tags({
            "llmops.model": spec.name,
            versions.DATASET_TAG: hashes["dataset"],
            versions.HOLDOUT_TAG: hashes["holdout"],
            versions.CONFIG_TAG: config,
            "llmops.dataset": source,
            "llmops.git_commit": commit or "unknown",
            **{f"env.{k}": v for k, v in _environment().items()},
            **options.tags,
        })  # fmt: skip
        versions.log_datasets(frame, holdout, spec, source, hashes)
        trials: list[dict[str, Any]] = []
        params = dict(spec.estimator.params)
        if spec.search is not None:
            params, trials = _search(spec, spec.search, x_train, y_train, columns, pos)
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
        mlflow.log_text(holdout.to_csv(index=False), HOLDOUT_ARTIFACT)
        if trials:
            mlflow.log_dict({"trials": trials}, "search.json")
        fairness = _log_fairness(spec, holdout, model.predict(x_test), pos)
        explanation = _log_explanation(spec, model, x_test, y_test, pos)
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
        holdout_hash=hashes["holdout"],
        fairness=fairness,
        explanation=explanation,
    )
    if options.register and result.passed:
        result.version = registry.register(client, spec.name, result.run_id, info.model_uri)
    return result


def _sensitive_columns(spec: ModelSpec, frame: pd.DataFrame, features: list[str]) -> list[str]:
    """Return the sensitive columns that are not inputs; a missing one is a clear error."""
    if spec.fairness is None:
        return []
    columns = [a.column for a in spec.fairness.attributes]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(
            f"sensitive attribute '{missing[0]}' is not a column of the data "
            f"(columns: {', '.join(map(str, frame.columns))})",
            file=spec.file,
            key="fairness.sensitive",
        )
    return [c for c in dict.fromkeys(columns) if c not in features and c != spec.target]


def _log_fairness(spec: ModelSpec, holdout: pd.DataFrame, predictions: Any, pos: Any) -> Any:
    """Compute and log subgroup metrics and fairness measures on the held-out rows."""
    import mlflow

    from llmops.mlmodels.fairness import assess_fairness

    if spec.fairness is None:
        return None
    report = assess_fairness(holdout[spec.target], predictions, holdout, spec.fairness, pos)
    mlflow.log_metrics(report.metrics())
    mlflow.log_dict(report.model_dump(mode="json"), FAIRNESS_ARTIFACT)
    mlflow.set_tag("llmops.fairness", "passed" if report.passed else "failed")
    return report


def _log_explanation(spec: ModelSpec, model: Any, x: pd.DataFrame, y: Any, pos: Any) -> Any:
    """Build and log the explanation report (JSON and Markdown) of the fitted model."""
    import mlflow

    from llmops.mlmodels.explain import build_report

    report = build_report(model, x, y, spec, pos)
    mlflow.log_dict(report.model_dump(mode="json"), EXPLANATION_ARTIFACT)
    mlflow.log_text(report.markdown(), EXPLANATION_MARKDOWN)
    mlflow.set_tag("llmops.explained", report.shap_kind or "permutation")
    return report


def _log_model(model: Any, x_train: Any) -> Any:
    import warnings

    import mlflow
    import sklearn
    from mlflow.models import infer_signature
    from skops.io import dumps, get_untrusted_types  # type: ignore[import-untyped]

    # skops refuses types it cannot vouch for (tree node arrays); this object was fitted in this
    # process from the spec, so its own types are the ones to trust when it is loaded back.
    trusted = get_untrusted_types(data=dumps(model))
    with warnings.catch_warnings():
        # MLflow hints (in colour) that integer columns cannot hold nulls; the gateway checks
        # inputs against the training profile itself.
        warnings.filterwarnings("ignore", message=".*Inferred schema contains integer")
        signature = infer_signature(x_train, model.predict(x_train.head(5)))
        return mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            skops_trusted_types=trusted,
            # Explicit requirements: inferring them probes the whole environment (~10 s).
            pip_requirements=[
                f"scikit-learn=={sklearn.__version__}",
                f"mlflow=={mlflow.__version__}",
            ],
        )
