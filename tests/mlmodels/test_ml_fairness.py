"""Fairness: subgroup metrics with fairlearn, bounds in the spec, refusals at the promotion gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from llmops.config import Settings
from llmops.errors import ConfigError
from llmops.mlmodels.fairness import assess_fairness, group_labels
from llmops.mlmodels.spec import FairnessSpec, SensitiveAttribute, load_spec
from llmops.mlmodels.tracking import connect

# Loans: `income` is a legitimate signal; in the biased data the label also depends on `group`.
BIASED = """\
name: loans
dataset: {{path: data/loans.csv}}
target: approved
positive_class: "yes"
features: {{numeric: [income], categorical: [{categorical}]}}
estimator: {{name: LogisticRegression}}
metrics: [accuracy]
split: {{test_size: 0.25, seed: 42}}
fairness:
  sensitive: [group]
  bounds: {{demographic_parity_ratio: 0.8, demographic_parity_difference: 0.15}}
  min_group_size: 30
"""


def _loans(path: Path, n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    group = rng.choice(["a", "b"], n)
    income = rng.normal(size=n)  # independent of the group
    noise = rng.normal(scale=0.3, size=n)
    approved = np.where(income + 1.5 * (group == "a") + noise > 0.75, "yes", "no")
    frame = pd.DataFrame({"income": income.round(5), "group": group, "approved": approved})
    frame.to_csv(path, index=False)
    return frame


def test_biased_classifier_is_refused_and_a_debiased_one_passes(  # type: ignore[no-untyped-def]
    cli, project: Path, settings: Settings, write_spec: Any
) -> None:
    _loans(project / "models" / "data" / "loans.csv")
    biased = write_spec("loans-biased", BIASED.format(categorical="group"))
    # The same model without the group among its inputs (income does not encode it).
    write_spec("loans", BIASED.format(categorical=""))

    trained = cli("model", "train", str(biased), "--json", cwd=project)
    assert trained.exit_code == 0, trained.stderr
    out = json.loads(trained.stdout)
    assert out["version"] == "1" and out["fairness_breaches"]
    refused = cli("model", "promote", "loans", "--json", cwd=project)
    assert refused.exit_code == 1
    result = json.loads(refused.stdout)
    assert result["passed"] is False
    [attribute] = result["fairness"]["attributes"]
    rates = {g["group"]: g["selection_rate"] for g in attribute["groups"]}
    measures = {m["name"]: m for m in attribute["measures"]}
    ratio = measures["demographic_parity_ratio"]["value"]
    # The figures are the held-out predictions' own: recompute them by hand.
    client = connect(settings)
    holdout = pd.read_csv(client.download_artifacts(out["run_id"], "holdout.csv", str(project)))
    import mlflow

    predicted = mlflow.sklearn.load_model("models:/loans/1").predict(holdout[["income", "group"]])
    by_hand = pd.Series(predicted == "yes").groupby(holdout["group"].to_numpy()).mean()
    assert rates == pytest.approx(by_hand.to_dict())
    assert ratio == pytest.approx(by_hand.min() / by_hand.max())
    assert ratio < 0.8 and measures["demographic_parity_ratio"]["broken"]
    assert measures["demographic_parity_difference"]["broken"]
    low, high = (
        measures["demographic_parity_ratio"]["low"],
        measures["demographic_parity_ratio"]["high"],
    )
    assert low <= ratio <= high
    # The refusal carries the numbers: the measure, its bound, the groups' sizes and rates.
    line = " ".join(refused.stderr.split())
    assert line.startswith(
        "error: promotion of loans v1 refused: fairness bound broken on 500 held-out rows: "
    )
    assert (
        f"group: demographic_parity_ratio {ratio:.3f} < 0.8 (95% CI {low:.2f}-{high:.2f})" in line
    )
    n_a = int((holdout["group"] == "a").sum())
    assert (
        f"groups a n={n_a} selection {rates['a']:.2f}, b n={500 - n_a} selection {rates['b']:.2f}"
        in line
    )
    v1 = client.get_model_version("loans", "1")
    assert (
        v1.tags["llmops.gate.result"] == "refused" and v1.tags["llmops.gate.fairness"] == "broken"
    )
    run = client.get_run(out["run_id"])
    assert run.data.tags["llmops.fairness"] == "failed"
    assert run.data.metrics["fairness.group.demographic_parity_ratio"] == pytest.approx(ratio)

    trained = cli("model", "train", "loans", "--json", cwd=project)
    assert trained.exit_code == 0, trained.stderr
    fair = json.loads(trained.stdout)
    assert fair["fairness_breaches"] == []
    passed = cli("model", "promote", "loans", cwd=project)
    assert passed.exit_code == 0, passed.stderr
    assert "loans v2 is champion (no champion yet; fairness bounds hold)" in passed.stdout
    assert str(client.get_model_version_by_alias("loans", "champion").version) == "2"
    card = cli("model", "card", "loans", cwd=project)
    assert "## Fairness (held-out split)" in card.stdout
    assert "- group: demographic_parity_ratio" in card.stdout and "ok" in card.stdout


def test_german_credit_worked_example_refusal_and_pass(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    every = cli("model", "train", "models/german-credit-all-features.yaml", cwd=project)
    assert every.exit_code == 0, every.stderr
    assert "fairness: a bound is broken" in every.stdout
    refused = cli("model", "promote", "german-credit", cwd=project)
    assert refused.exit_code == 1
    line = " ".join(refused.stderr.split())
    assert (
        "refused: fairness bound broken on 250 held-out rows: sex: equalized_odds_difference"
        in line
    )
    assert "age: demographic_parity_ratio" in line and "<25 n=33" in line
    fair = cli("model", "train", "german-credit", cwd=project)
    assert fair.exit_code == 0, fair.stderr
    promoted = cli("model", "promote", "german-credit", cwd=project)
    assert promoted.exit_code == 0, promoted.stderr
    assert "german-credit v2 is champion" in promoted.stdout


def test_group_labels_bins_and_missing() -> None:
    frame = pd.DataFrame({"age": [19, 25, 40, 70, None], "sex": ["f", "m", None, "f", "m"]})
    ages = group_labels(frame, SensitiveAttribute(column="age", bins=[25, 65]))
    assert ages.tolist() == ["<25", "25-65", "25-65", ">=65", "(missing)"]
    assert group_labels(frame, SensitiveAttribute(column="sex")).tolist() == [
        "f", "m", "(missing)", "f", "m",
    ]  # fmt: skip


def test_small_groups_are_shown_not_judged_and_undefined_odds_refuse() -> None:
    y = np.array([1, 0] * 40 + [1] * 10)
    p = np.array([1, 0] * 40 + [1] * 10)
    groups = pd.DataFrame({"g": ["a"] * 40 + ["b"] * 40 + ["c"] * 10})
    spec = FairnessSpec(
        sensitive=["g"], bounds={"demographic_parity_difference": 0.1}, min_group_size=20
    )
    report = assess_fairness(y, p, groups, spec, 1)
    [attribute] = report.attributes
    assert [(g.group, g.rows, g.judged) for g in attribute.groups] == [
        ("a", 40, True), ("b", 40, True), ("c", 10, False),
    ]  # fmt: skip
    assert report.passed and attribute.measures[0].value == 0.0
    # A judged group with no actual negatives: the false positive rate, and so equalized odds,
    # is undefined; with a bound on it the gate refuses rather than guess.
    y2 = np.array([1, 0] * 20 + [1] * 40)
    spec2 = FairnessSpec(
        sensitive=["g"], bounds={"equalized_odds_difference": 0.5}, min_group_size=20
    )
    report2 = assess_fairness(y2, y2, groups.head(80), spec2, 1)
    eod = report2.attributes[0].measures[2]
    assert eod.value is None and eod.broken and not report2.passed
    assert "equalized odds undefined" in (report2.attributes[0].note or "")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fairness: {sensitive: [sex], bounds: {demographic_parity_ratios: 0.8}}",
         "unknown key 'fairness.bounds.demographic_parity_ratios' (did you mean 'demographic_parity_ratio'?)"),
        ("fairness: {sensitive: [{column: age, bins: [40, 25]}]}",
         "'bins' must be strictly increasing cut points"),
        ("fairness: {sensitive: []}", "'fairness.sensitive': List should have at least 1 item"),
    ],
)  # fmt: skip
def test_bad_fairness_sections_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    spec = "name: x\ndataset: {path: d.csv}\ntarget: y\nestimator: {name: LogisticRegression}\n"
    path = tmp_path / "x.yaml"
    path.write_text(spec + text + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    assert message in info.value.message
    assert info.value.location == f"{path}:5"


def test_fairness_needs_classification(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "name: r\ntask: regression\ndataset: {sklearn: diabetes}\ntarget: target\n"
        "estimator: {name: Ridge}\nmetrics: [rmse]\nfairness: {sensitive: [sex]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    assert info.value.message.startswith("fairness checks need a classification task")
    assert info.value.location == f"{path}:7"


def test_missing_sensitive_column_stops_before_training(
    cli, project: Path, write_spec: Any
) -> None:  # type: ignore[no-untyped-def]
    _loans(project / "models" / "data" / "loans.csv")
    path = write_spec("loans", BIASED.format(categorical="").replace("[group]", "[gender]"))
    result = cli("model", "train", "loans", cwd=project)
    assert result.exit_code == 2
    first = result.stderr.strip().splitlines()[0]
    assert first.startswith("error: sensitive attribute 'gender' is not a column of the data")
    assert f"({path}" in " ".join(result.stderr.split())
    assert json.loads(cli("model", "show", "loans", "--json", cwd=project).stdout)["versions"] == []
