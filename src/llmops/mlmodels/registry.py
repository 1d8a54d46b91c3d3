"""The model registry: versions, ``champion``/``challenger`` aliases, the promotion gate, rollback."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from llmops.errors import NotFoundError, StateError

if TYPE_CHECKING:
    from llmops.mlmodels.data import DataProfile
    from llmops.mlmodels.spec import ModelSpec

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "PromotionResult",
    "champion_profile",
    "get_alias",
    "load_holdout",
    "load_model",
    "promote",
    "register",
    "rollback",
    "run_profile",
]

CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "llmops.champion_history"


@dataclass
class PromotionResult:
    """The gate's comparison, recorded on the challenger version and in its run."""

    model: str
    challenger: str
    champion: str | None
    metric: str
    margin: float
    challenger_value: float | None
    champion_value: float | None
    passed: bool
    reason: str
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    holdout_rows: int = 0
    fairness: dict[str, Any] | None = None
    fairness_breaches: list[str] = field(default_factory=list)
    at: float = field(default_factory=time.time)


def _missing(exc: Exception) -> bool:
    """Return True when MLflow says the model or the alias does not exist (not a failure)."""
    code = str(getattr(exc, "error_code", ""))
    if code == "RESOURCE_DOES_NOT_EXIST":
        return True
    # A missing alias is INVALID_PARAMETER_VALUE "Registered model alias X not found".
    return code == "INVALID_PARAMETER_VALUE" and "not found" in str(exc)


def get_alias(client: Any, name: str, alias: str) -> Any | None:
    """Return the model version behind ``name@alias``, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if _missing(exc):
            return None
        raise


def _version(client: Any, name: str, version: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(name, str(version))
    except MlflowException:
        raise NotFoundError(
            f"model '{name}' has no version {version}",
            hint=f"list versions with: llmops model show {name}",
        ) from None


def run_profile(client: Any, run_id: str) -> DataProfile:
    """Return the training data profile logged with a run."""
    from llmops.mlmodels.data import DataProfile
    from llmops.mlmodels.training import PROFILE_ARTIFACT

    data = _artifact_json(client, run_id, PROFILE_ARTIFACT)
    return DataProfile.model_validate(data)


def _artifact_json(client: Any, run_id: str, path: str) -> Any:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        local = client.download_artifacts(run_id, path, tmp)
        return json.loads(Path(local).read_text(encoding="utf-8"))


def champion_profile(client: Any, name: str) -> DataProfile | None:
    """Return the profile saved with the current champion, or None without one."""
    version = get_alias(client, name, CHAMPION)
    return run_profile(client, version.run_id) if version is not None else None


def load_model(client: Any, name: str, version: str) -> Any:
    """Load a registered version as a scikit-learn estimator."""
    import mlflow

    del client  # the fluent API uses the URI set by connect()
    return mlflow.sklearn.load_model(f"models:/{name}/{version}")


def register(client: Any, name: str, run_id: str, model_uri: str) -> str:
    """Register a run's model as a new version of ``name`` with the ``challenger`` alias."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, tags={"llmops.kind": "classic-ml"})
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
    mv = client.create_model_version(
        name, model_uri, run_id=run_id, tags={"llmops.run_id": run_id}, model_id=model_id
    )
    client.set_registered_model_alias(name, CHALLENGER, str(mv.version))
    return str(mv.version)


def _history(client: Any, name: str) -> list[str]:
    tags = client.get_registered_model(name).tags or {}
    return list(json.loads(tags.get(HISTORY_TAG, "[]")))


def _set_champion(client: Any, name: str, version: str, history: list[str]) -> None:
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))


def load_holdout(client: Any, run_id: str) -> Any:
    """Return the held-out rows logged with a training run (features, target, sensitive)."""
    import tempfile

    import pandas as pd

    from llmops.mlmodels.training import HOLDOUT_ARTIFACT

    with tempfile.TemporaryDirectory() as tmp:
        return pd.read_csv(client.download_artifacts(run_id, HOLDOUT_ARTIFACT, tmp))


def promote(client: Any, spec: ModelSpec, version: str | None = None) -> PromotionResult:
    """Gate a challenger against the champion on the challenger's held-out split.

    Both models are scored on the same rows; the challenger must beat the champion on the
    spec's promotion metric by ``promotion.margin``. Without a champion the challenger is
    promoted if its training run met the thresholds. The comparison is recorded either way
    (version tags and ``promotions/<time>.json`` in the challenger's run).
    """
    from llmops.mlmodels.metrics import get_metric, score

    name = spec.name
    if version is None:
        found = get_alias(client, name, CHALLENGER)
        if found is None:
            raise NotFoundError(
                f"model '{name}' has no challenger to promote",
                hint=f"train one (llmops model train) or pass --version; see llmops model show {name}",
            )
        challenger = found
    else:
        challenger = _version(client, name, version)
    metric = get_metric(spec.gate_metric, spec.task)
    champion = get_alias(client, name, CHAMPION)
    run = client.get_run(challenger.run_id)
    result = PromotionResult(
        model=name,
        challenger=str(challenger.version),
        champion=str(champion.version) if champion is not None else None,
        metric=metric.name,
        margin=spec.promotion.margin,
        challenger_value=run.data.metrics.get(metric.name),
        champion_value=None,
        passed=False,
        reason="",
    )
    refusal = _refusal(client, spec, challenger, champion, result)
    if refusal:
        result.reason = refusal
    elif champion is None:
        result.passed = True
        result.reason = "no champion yet" + ("; fairness bounds hold" if result.fairness else "")
    else:
        holdout = load_holdout(client, challenger.run_id)
        x, y = holdout.drop(columns=[spec.target]), holdout[spec.target]
        pos = run.data.params.get("positive_class")
        pos_label = next((c for c in y.unique() if str(c) == pos), None)
        names = list(dict.fromkeys([metric.name, *spec.metrics]))
        new = score(load_model(client, name, result.challenger), x, y, names, spec.task, pos_label)
        old = score(
            load_model(client, name, str(champion.version)), x, y, names, spec.task, pos_label
        )
        result.metrics = {n: {"challenger": new[n], "champion": old[n]} for n in names}
        result.holdout_rows = len(holdout)
        result.challenger_value, result.champion_value = new[metric.name], old[metric.name]
        result.passed = metric.better(new[metric.name], old[metric.name], spec.promotion.margin)
        word = "beats" if result.passed else "does not beat"
        result.reason = (
            f"challenger v{result.challenger} {metric.name}={new[metric.name]:.4f} {word} "
            f"champion v{result.champion} {metric.name}={old[metric.name]:.4f} by the margin "
            f"{spec.promotion.margin:g} on {len(holdout)} held-out rows"
            + ("; fairness bounds hold" if result.fairness else "")
        )
    _record(client, challenger, result)
    if result.passed:
        history = [v for v in _history(client, name) if v != result.challenger]
        _set_champion(client, name, result.challenger, [*history, result.challenger])
        client.delete_registered_model_alias(name, CHALLENGER)
    return result


def _refusal(
    client: Any, spec: ModelSpec, challenger: Any, champion: Any, result: PromotionResult
) -> str:
    """Return why the challenger cannot be promoted whatever the champion scores, or ''."""
    run = client.get_run(challenger.run_id)
    if run.data.tags.get("llmops.thresholds") == "failed":
        return "the challenger's training run did not meet the spec's thresholds"
    if champion is not None and str(champion.version) == str(challenger.version):
        return f"version {challenger.version} is already the champion"
    if spec.fairness is not None:
        return _judge_fairness(client, spec, result, load_holdout(client, challenger.run_id))
    return ""


def _judge_fairness(client: Any, spec: ModelSpec, result: PromotionResult, holdout: Any) -> str:
    """Check the challenger's fairness on its held-out rows; return the refusal, or ''."""
    from llmops.mlmodels.fairness import assess_fairness

    fairness = spec.fairness
    if fairness is None:
        return ""
    missing = [a.column for a in fairness.attributes if a.column not in holdout.columns]
    if missing:
        return (
            f"cannot check fairness: the challenger's held-out rows have no column "
            f"'{missing[0]}' (it was trained before fairness.sensitive named it); retrain it"
        )
    run = client.get_run(client.get_model_version(result.model, result.challenger).run_id)
    target = holdout[spec.target]
    pos = run.data.params.get("positive_class")
    positive = next((c for c in target.unique() if str(c) == pos), pos)
    model = load_model(client, result.model, result.challenger)
    report = assess_fairness(
        target, model.predict(holdout.drop(columns=[spec.target])), holdout, fairness, positive
    )
    result.fairness = report.model_dump(mode="json")
    result.fairness_breaches = report.breaches
    if report.passed:
        return ""
    return f"fairness bound broken on {report.rows} held-out rows: " + "; ".join(report.breaches)


def _record(client: Any, version: Any, result: PromotionResult) -> None:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(result.at))
    client.log_dict(version.run_id, asdict(result), f"promotions/{stamp}.json")
    for key, value in {
        "llmops.gate.result": "passed" if result.passed else "refused",
        "llmops.gate.reason": result.reason,
        "llmops.gate.metric": result.metric,
        "llmops.gate.champion": str(result.champion),
        "llmops.gate.champion_value": str(result.champion_value),
        "llmops.gate.challenger_value": str(result.challenger_value),
        **(
            {"llmops.gate.fairness": "broken" if result.fairness_breaches else "held"}
            if result.fairness is not None
            else {}
        ),
    }.items():
        client.set_model_version_tag(result.model, version.version, key, value)


def rollback(client: Any, name: str) -> tuple[str, str]:
    """Point ``champion`` back at the previous champion; return ``(from, to)`` versions."""
    current = get_alias(client, name, CHAMPION)
    if current is None:
        raise StateError(f"model '{name}' has no champion to roll back")
    history = [v for v in _history(client, name) if v != str(current.version)]
    if not history:
        raise StateError(
            f"model '{name}' has no earlier champion than version {current.version}",
            hint="promote another version instead: llmops model promote NAME --version N",
        )
    previous = history[-1]
    _set_champion(client, name, previous, history)
    client.set_model_version_tag(name, str(current.version), "llmops.rolled_back", "true")
    return str(current.version), previous
