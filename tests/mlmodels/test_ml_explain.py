"""Explanations: permutation importance and SHAP on planted data, MLflow artifacts, the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from llmops.config import Settings
from llmops.mlmodels.estimators import build_pipeline, resolve_estimator
from llmops.mlmodels.explain import gate_scorer, permutation_importances, shap_explainer
from llmops.mlmodels.tracking import connect


def _planted(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Six noise columns and one informative one (``signal``, numeric or categorical)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"noise{i}": rng.normal(size=n) for i in range(5)})
    frame["signal"] = rng.normal(size=n)
    frame["shade"] = rng.choice(["dark", "light", "mid"], n)
    return frame, rng.normal(scale=0.3, size=n)


@pytest.mark.parametrize(
    ("estimator", "params", "task", "planted"),
    [
        ("RandomForestClassifier", {"n_estimators": 60, "random_state": 0}, "classification", "signal"),
        ("GradientBoostingClassifier", {"random_state": 0}, "classification", "shade"),
        ("LogisticRegression", {}, "classification", "signal"),
        ("LogisticRegression", {}, "classification", "shade"),
        ("RandomForestRegressor", {"n_estimators": 60, "random_state": 0}, "regression", "signal"),
        ("Ridge", {}, "regression", "shade"),
    ],
)  # fmt: skip
def test_shap_and_permutation_rank_the_planted_feature_first(
    estimator: str, params: dict[str, Any], task: str, planted: str
) -> None:
    frame, noise = _planted()
    driver = frame["signal"] if planted == "signal" else (frame["shade"] == "dark") * 2.0 - 1.0
    if task == "classification":
        y = np.where(driver + noise > 0, "pos", "neg")
    else:
        y = 3.0 * driver + noise
    numeric = [c for c in frame.columns if c != "shade"]
    train, test = frame.iloc[:400], frame.iloc[400:]
    model = build_pipeline(resolve_estimator(estimator)(**params), numeric, ["shade"])
    model.fit(train, y[:400])
    pos = "pos" if task == "classification" else None
    metric = "accuracy" if task == "classification" else "rmse"
    ranked = permutation_importances(
        model, test, y[400:], gate_scorer(metric, task, pos), repeats=3, seed=0
    )
    assert ranked[0].feature == planted and ranked[0].mean > 5 * max(abs(ranked[1].mean), 0.01)
    explainer = shap_explainer(model, test, pos)
    assert not isinstance(explainer, str), explainer
    values, base, _ = explainer.explain(test)
    magnitude = np.abs(values).mean(axis=0)
    assert explainer.features[int(magnitude.argmax())] == planted
    # SHAP is additive: base value + contributions = the model's output, row by row.
    output = base + values.sum(axis=1)
    if explainer.unit == "probability":
        expected = model.predict_proba(test)[:, list(model.classes_).index("pos")]
    elif explainer.unit == "log-odds":
        expected = model.decision_function(test)
    else:
        expected = model.predict(test)
    np.testing.assert_allclose(output, expected, atol=1e-6)


def test_models_without_an_exact_explainer_get_permutation_importance_only() -> None:
    frame, noise = _planted(300)
    y = np.where(frame["signal"] + noise > 0, "pos", "neg")
    model = build_pipeline(resolve_estimator("SVC")(), list(frame.columns[:-1]), ["shade"])
    model.fit(frame, y)
    found = shap_explainer(model, frame, "pos")
    assert isinstance(found, str) and found.startswith("SVC has no exact SHAP explainer")
    ranked = permutation_importances(
        model, frame, y, gate_scorer("accuracy", "classification", "pos")
    )
    assert ranked[0].feature == "signal"


def test_explanations_are_logged_to_mlflow_and_summarised_in_the_card(  # type: ignore[no-untyped-def]
    cli, project: Path, settings: Settings
) -> None:
    trained = cli("model", "train", "bc", "--json", cwd=project)
    assert trained.exit_code == 0, trained.stderr
    out = json.loads(trained.stdout)
    client = connect(settings)
    artifacts = {a.path for a in client.list_artifacts(out["run_id"], "explanation")}
    assert artifacts == {"explanation/report.json", "explanation/report.md"}
    local = client.download_artifacts(out["run_id"], "explanation/report.json", str(project))
    report = json.loads(Path(local).read_text(encoding="utf-8"))
    assert report["estimator"] == "LogisticRegression" and report["shap_kind"] == "linear"
    assert report["rows"] == 100 and len(report["permutation"]) == 30
    assert report["shap_output"] == "log-odds(malignant)" and len(report["examples"]) == 5
    example = report["examples"][0]
    total = example["base_value"] + sum(c["contribution"] for c in example["contributions"])
    assert total + example["rest"] == pytest.approx(example["output"])
    assert client.get_run(out["run_id"]).data.tags["llmops.explained"] == "linear"
    card = cli("model", "card", "bc", cwd=project).stdout
    assert "## Explanations" in card
    top = report["permutation"][0]
    assert (
        f"Permutation importance (drop in accuracy, 100 held-out rows, 5 repeats): {top['feature']}"
        in card
    )
    assert f"Mean |SHAP| (linear, log-odds(malignant)): {report['shap'][0]['feature']}" in card


def test_explain_cli_one_prediction(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("model", "train", "bc", cwd=project).exit_code == 0
    assert cli("model", "promote", "bc", cwd=project).exit_code == 0
    held = cli("model", "explain", "bc", "--row", "3", "--top", "4", "--json", cwd=project)
    assert held.exit_code == 0, held.stderr
    got = json.loads(held.stdout)
    assert got["version"] == "1" and len(got["contributions"]) == 4
    assert got["actual"] in {"benign", "malignant"} and got["explained"] == "log-odds(malignant)"
    import mlflow

    model = mlflow.sklearn.load_model("models:/bc/1")
    row = pd.DataFrame([got["input"]])
    assert got["prediction"] == model.predict(row)[0]
    proba = model.predict_proba(row)[0][list(model.classes_).index("malignant")]
    assert got["output"] == pytest.approx(math.log(proba / (1 - proba)), abs=1e-6)
    assert got["base_value"] + sum(c["contribution"] for c in got["contributions"]) + got[
        "rest"
    ] == pytest.approx(got["output"])

    text = cli("model", "explain", "bc@champion", "--row", json.dumps(got["input"]), cwd=project)
    assert text.exit_code == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == "bc v1 (@champion)"
    assert lines[1].startswith(f"- predicted `{got['prediction']}`; log-odds(malignant) = ")
    first = got["contributions"][0]
    assert lines[2] == f"  - {first['contribution']:+.4f} {first['feature']} = {first['value']}"

    errors = {
        ("bc", "999"): "error: --row 999 is out of range: v1 has 100 held-out rows (0-99)",
        ("bc", '{"mean_radius": 1}'): "error: --row is missing column 'mean_texture'",
        ("bc", "{nope"): "error: --row is neither a row number nor JSON",
        ("bc@challenger", "0"): "error: model 'bc' has no version with the alias 'challenger'",
        ("bc@7", "0"): "error: model 'bc' has no version 7",
    }
    for (ref, row), message in errors.items():
        result = cli("model", "explain", ref, "--row", row, cwd=project)
        assert result.exit_code == 2, (ref, row, result.stderr)
        assert result.stderr.startswith(message), result.stderr
