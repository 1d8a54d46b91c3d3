"""Dataset versions: content hashes of the training and held-out data, and unchanged retrains.

A training run is identified by what went into it: the content hash of the validated training
data (``llmops.dataset_hash``), the hash of the held-out rows the run was judged on
(``llmops.holdout_hash``), and a hash of the spec's training configuration and the
scikit-learn version (``llmops.config_hash``). Both datasets are also logged as MLflow dataset
inputs (``training`` and ``evaluation`` contexts). A retrain whose data and configuration match
a registered version's is answered with that version instead of a new one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from llmops.mlmodels.spec import ModelSpec

__all__ = ["ExistingVersion", "config_hash", "find_unchanged", "log_datasets"]

DATASET_TAG = "llmops.dataset_hash"
HOLDOUT_TAG = "llmops.holdout_hash"
CONFIG_TAG = "llmops.config_hash"


@dataclass(frozen=True)
class ExistingVersion:
    """A registered version trained on the same data with the same configuration."""

    version: str
    run_id: str
    model_uri: str
    metrics: dict[str, float]
    params: dict[str, str]
    gate: str | None


def config_hash(spec: ModelSpec, numeric: list[str], categorical: list[str]) -> str:
    """Return a hash of everything besides the data that decides the fitted model."""
    import sklearn

    fairness = spec.fairness
    doc = {
        "task": spec.task,
        "target": spec.target,
        "positive_class": spec.positive_class,
        "numeric": numeric,
        "categorical": categorical,
        "estimator": spec.estimator.model_dump(mode="json"),
        "search": spec.search.model_dump(mode="json") if spec.search else None,
        "split": spec.split.model_dump(mode="json"),
        # The held-out artifact carries the sensitive columns the gate groups by.
        "sensitive": sorted(a.column for a in fairness.attributes) if fairness else [],
        "scikit-learn": sklearn.__version__,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def find_unchanged(
    client: Any, name: str, experiment: str | None, dataset: str, config: str
) -> ExistingVersion | None:
    """Return the newest registered version of ``name`` with this data and configuration."""
    from mlflow.exceptions import MlflowException

    if experiment is None:
        return None
    try:
        versions = client.search_model_versions(f"name='{name}'")
    except MlflowException:
        return None
    by_run = {mv.run_id: mv for mv in versions}
    if not by_run:
        return None
    runs = client.search_runs(
        [experiment],
        filter_string=f"tags.`{DATASET_TAG}` = '{dataset}' and tags.`{CONFIG_TAG}` = '{config}'",
    )
    matches = [(by_run[r.info.run_id], r) for r in runs if r.info.run_id in by_run]
    if not matches:
        return None
    mv, run = max(matches, key=lambda m: int(m[0].version))
    return ExistingVersion(
        version=str(mv.version),
        run_id=run.info.run_id,
        model_uri=run.data.tags.get("llmops.model_uri", mv.source),
        metrics=dict(run.data.metrics),
        params=dict(run.data.params),
        gate=(mv.tags or {}).get("llmops.gate.result"),
    )


def log_datasets(
    train: pd.DataFrame, holdout: pd.DataFrame, spec: ModelSpec, source: str, hashes: dict[str, str]
) -> None:
    """Log the training data and the held-out rows as MLflow dataset inputs of the active run."""
    import warnings

    import mlflow
    import mlflow.data

    for frame, context, key in ((train, "training", "dataset"), (holdout, "evaluation", "holdout")):
        with warnings.catch_warnings():
            # MLflow hints that integer columns cannot hold nulls: true, and not news here.
            warnings.filterwarnings("ignore", message=".*Inferred schema contains integer")
            dataset = mlflow.data.from_pandas(  # type: ignore[attr-defined]
                frame,
                name=f"{spec.name}-{context}",
                targets=spec.target,
                digest=hashes[key][:16],
            )
        mlflow.log_input(
            dataset, context=context, tags={"llmops.sha256": hashes[key], "source": source}
        )
