"""The lifecycle through the real CLI against a real local MLflow store (sqlite)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from ml_helpers import FAST_SPEC  # type: ignore[import-not-found]

from llmops.config import Settings
from llmops.mlmodels.tracking import connect


def _client(settings: Settings) -> Any:
    return connect(settings)


def _show(cli: Any, project: Path, name: str) -> dict[str, Any]:
    result = cli("model", "show", name, "--json", cwd=project)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_worked_example_end_to_end(cli, project: Path, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    # Train the shipped spec: a 4-trial search, every trial a nested run.
    trained = cli("model", "train", "breast-cancer", "--json", cwd=project)
    assert trained.exit_code == 0, trained.stderr
    out = json.loads(trained.stdout)
    assert out["version"] == "1" and len(out["trials"]) == 4
    assert out["metrics"]["accuracy"] >= 0.9 and out["metrics"]["roc_auc"] >= 0.95
    client = _client(settings)
    run = client.get_run(out["run_id"])
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{out['run_id']}'"
    )
    assert len(children) == 4 and all("cv_accuracy" in c.data.metrics for c in children)
    tags = run.data.tags
    assert tags["llmops.dataset_hash"] == out["dataset_hash"]
    assert tags["llmops.git_commit"] and tags["env.scikit-learn"]
    assert run.data.params["estimator"] == "RandomForestClassifier"
    artifacts = {a.path for a in client.list_artifacts(out["run_id"])}
    assert {"profile.json", "holdout.csv", "spec.json", "search.json"} <= artifacts

    # First promotion: no champion yet.
    promoted = cli("model", "promote", "breast-cancer", cwd=project)
    assert promoted.exit_code == 0, promoted.stderr
    assert "breast-cancer v1 is champion (no champion yet)" in promoted.stdout

    # The drifted batch fires the rule; retraining on it beats the champion and is promoted.
    batch = project / "models" / "data" / "breast_cancer_drifted.csv"
    drift = cli("model", "drift", "breast-cancer", "--batch", str(batch), "--json", cwd=project)
    assert drift.exit_code == 1, drift.stderr
    report = json.loads(drift.stdout)
    assert report["drift"]["fired"] is True
    assert report["retrained"]["version"] == "2"
    assert report["promotion"]["passed"] is True
    gate = report["promotion"]["metrics"]["accuracy"]
    assert gate["challenger"] - gate["champion"] >= 0.01
    versions = _show(cli, project, "breast-cancer")["versions"]
    assert versions[1]["aliases"] == ["champion"] and versions[1]["trigger"] == "drift"

    # Rollback returns to v1; the card describes the champion.
    back = cli("model", "rollback", "breast-cancer", cwd=project)
    assert back.exit_code == 0 and "champion v2 -> v1" in back.stdout
    card = cli("model", "card", "breast-cancer", cwd=project)
    assert card.exit_code == 0
    for heading in ("# Model card: breast-cancer v1", "## Intended use", "## Data",
                    "## Metrics (held-out split)", "## Limitations", "## Lineage"):  # fmt: skip
        assert heading in card.stdout
    assert "| accuracy | 0.9400 | 0.9 |" in card.stdout
    assert f"MLflow run `{out['run_id']}`" in card.stdout


def test_promotion_refused_when_the_challenger_is_worse(
    cli,  # type: ignore[no-untyped-def]
    project: Path,
    settings: Settings,
    write_spec: Any,
) -> None:
    assert cli("model", "train", "bc", cwd=project).exit_code == 0
    assert cli("model", "promote", "bc", cwd=project).exit_code == 0
    worse = FAST_SPEC.replace("LogisticRegression", "DecisionTreeClassifier").replace(
        "{max_iter: 3000}", "{max_depth: 1, random_state: 0}"
    )
    worse_path = write_spec("worse", worse.replace("thresholds: {accuracy: 0.9}", ""))
    trained = cli("model", "train", str(worse_path), "--json", cwd=project)
    assert trained.exit_code == 0, trained.stderr
    assert json.loads(trained.stdout)["version"] == "2"

    refused = cli("model", "promote", "bc", cwd=project)
    assert refused.exit_code == 1
    line = refused.stderr.strip().splitlines()[0]
    assert line.startswith("error: promotion of bc v2 refused: challenger v2 accuracy=0.")
    assert "does not beat champion v1 accuracy=0.9" in line
    assert line.endswith("by the margin 0.01 on 100 held-out rows")

    client = _client(settings)
    assert str(client.get_model_version_by_alias("bc", "champion").version) == "1"
    v2 = client.get_model_version("bc", "2")
    assert v2.tags["llmops.gate.result"] == "refused"
    assert v2.tags["llmops.gate.champion"] == "1"
    recorded = [a.path for a in client.list_artifacts(v2.run_id, "promotions")]
    assert len(recorded) == 1 and recorded[0].endswith(".json")


def test_thresholds_missed_means_not_registered(cli, project: Path, write_spec: Any) -> None:  # type: ignore[no-untyped-def]
    path = write_spec("strict", FAST_SPEC.replace("accuracy: 0.9}", "accuracy: 0.999}"))
    result = cli("model", "train", str(path), cwd=project)
    assert result.exit_code == 1
    assert (
        "error: bc missed its thresholds; the run is recorded but not registered" in result.stderr
    )
    assert "does not meet the threshold 0.999" in result.stderr
    assert _show(cli, project, "bc")["versions"] == []


def test_register_a_run_then_promote_by_version(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    trained = cli("model", "train", "bc", "--no-register", "--json", cwd=project)
    run_id = json.loads(trained.stdout)["run_id"]
    assert json.loads(trained.stdout)["version"] is None
    reg = cli("model", "register", "bc", "--run", run_id, cwd=project)
    assert reg.exit_code == 0 and "registered bc v1 as challenger" in reg.stdout
    assert cli("model", "promote", "bc", "--version", "1", cwd=project).exit_code == 0
    assert _show(cli, project, "bc")["versions"][0]["aliases"] == ["champion"]
    again = cli("model", "promote", "bc", "--version", "1", cwd=project)
    assert again.exit_code == 1 and "already the champion" in again.stderr
    nine = cli("model", "promote", "bc", "--version", "9", cwd=project)
    assert nine.exit_code == 2 and "error: model 'bc' has no version 9" in nine.stderr
    card = cli("model", "card", "bc", "--version", "9", cwd=project)
    assert card.exit_code == 1
    assert card.stderr.startswith("error: MLflow (sqlite:///") and "failed: " in card.stderr
    assert "Traceback" not in card.stderr
    missing = cli("model", "register", "bc", "--run", "0" * 32, cwd=project)
    assert missing.exit_code == 2 and f"no MLflow run '{'0' * 32}'" in missing.stderr


def test_rollback_needs_an_earlier_champion(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    none = cli("model", "rollback", "bc", cwd=project)
    assert none.exit_code == 2 and "error: model 'bc' has no champion to roll back" in none.stderr
    cli("model", "train", "bc", cwd=project)
    cli("model", "promote", "bc", cwd=project)
    only = cli("model", "rollback", "bc", cwd=project)
    assert only.exit_code == 2
    assert "error: model 'bc' has no earlier champion than version 1" in only.stderr


def test_drift_on_a_resample_exits_zero_and_does_not_retrain(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    cli("model", "train", "bc", cwd=project)
    cli("model", "promote", "bc", cwd=project)
    data = project / "models" / "data"
    sample = pd.read_csv(data / "breast_cancer.csv").sample(n=150, replace=True, random_state=1)
    sample.to_csv(data / "resample.csv", index=False)
    result = cli("model", "drift", "bc", "--batch", str(data / "resample.csv"), cwd=project)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "0/30 features drifted" in result.stdout
    assert "retrained" not in result.stdout
    assert len(_show(cli, project, "bc")["versions"]) == 1


def test_drift_batch_with_missing_columns_is_refused(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    cli("model", "train", "bc", cwd=project)
    cli("model", "promote", "bc", cwd=project)
    data = project / "models" / "data"
    pd.read_csv(data / "breast_cancer_drifted.csv").drop(columns=["worst_area"]).to_csv(
        data / "cut.csv", index=False
    )
    result = cli("model", "drift", "bc", "--batch", str(data / "cut.csv"), cwd=project)
    assert result.exit_code == 1
    assert (
        f"data validation failed for {data / 'cut.csv'}: missing column 'worst_area'"
        in " ".join(result.stderr.split())
    )
