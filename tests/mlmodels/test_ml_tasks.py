"""Other shapes of spec: regression (lower-is-better gate) and categorical features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmops.config import load_settings

REGRESSION = """\
name: diabetes
task: regression
dataset: {sklearn: diabetes}
target: target
estimator: ESTIMATOR
metrics: [rmse, r2]
thresholds: {r2: 0.1}
promotion: {metric: rmse, margin: 0.0}
"""

CATEGORICAL = """\
name: shop
dataset: {path: data/shop.csv}
target: bought
features: {numeric: [price], categorical: [colour]}
estimator: {name: LogisticRegression}
metrics: [accuracy]
"""


def test_regression_gate_prefers_lower_rmse(cli, project, write_spec) -> None:  # type: ignore[no-untyped-def]
    good = write_spec(
        "diabetes", REGRESSION.replace("ESTIMATOR", "{name: Ridge, params: {alpha: 1.0}}")
    )
    assert cli("model", "train", str(good), cwd=project).exit_code == 0
    assert cli("model", "promote", "diabetes", cwd=project).exit_code == 0
    worse = write_spec(
        "diabetes-worse",
        REGRESSION.replace("ESTIMATOR", "{name: DecisionTreeRegressor, params: {max_depth: 1}}"),
    )
    trained = cli("model", "train", str(worse), cwd=project)
    assert trained.exit_code == 0, trained.stderr
    refused = cli("model", "promote", "diabetes", cwd=project)
    assert refused.exit_code == 1
    assert (
        "challenger v2 rmse=" in refused.stderr
        and "does not beat champion v1 rmse=" in refused.stderr
    )


def test_categorical_features_train_check_and_serve(cli, project, write_spec) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    colour = rng.choice(["red", "green", "blue"], 300)
    price = rng.uniform(1, 100, 300)
    bought = np.where((colour == "red") | (price < 30), "yes", "no")
    data = project / "models" / "data"
    pd.DataFrame({"price": price, "colour": colour, "bought": bought}).to_csv(
        data / "shop.csv", index=False
    )
    write_spec("shop", CATEGORICAL)
    assert cli("model", "train", "shop", cwd=project).exit_code == 0
    assert cli("model", "promote", "shop", cwd=project).exit_code == 0
    pd.DataFrame(
        {"price": [10.0, 50.0], "colour": ["purple", "red"], "bought": ["yes", "no"]}
    ).to_csv(data / "new.csv", index=False)
    result = cli("model", "validate", "shop", "--data", str(data / "new.csv"), cwd=project)
    assert result.exit_code == 1
    assert "column 'colour' has unknown categories: 'purple'" in result.stderr

    from llmops.mlmodels.serving import PredictService

    service = PredictService(load_settings(project))
    try:
        version = service.resolve("shop", "champion")
        assert version == "1"
        out = service.score(
            "shop", version, [{"price": 80.0, "colour": "red"}, {"price": 80.0, "colour": "blue"}]
        )
    finally:
        service.close()
    assert out["predictions"] == ["yes", "no"]


def test_parquet_dataset_and_sampled_search(cli, project, write_spec) -> None:  # type: ignore[no-untyped-def]
    from ml_helpers import FAST_SPEC  # type: ignore[import-not-found]

    data = project / "models" / "data"
    pd.read_csv(data / "breast_cancer.csv").to_parquet(data / "bc.parquet")
    text = FAST_SPEC.replace("breast_cancer.csv", "bc.parquet").replace(
        "split:", "search: {params: {C: [0.01, 0.1, 1.0, 10.0]}, max_trials: 2, cv: 2}\nsplit:"
    )
    path = write_spec("pq", text)
    result = cli("model", "train", str(path), "--json", cwd=project)
    assert result.exit_code == 0, result.stderr
    import json

    out = json.loads(result.stdout)
    assert len(out["trials"]) == 2  # 4 candidates, 2 sampled
    assert {t["params"]["C"] for t in out["trials"]} <= {0.01, 0.1, 1.0, 10.0}
    assert out["params"]["C"] in {t["params"]["C"] for t in out["trials"]}


def test_unlabelled_drifted_batch_fires_but_cannot_retrain(cli, project) -> None:  # type: ignore[no-untyped-def]
    import json

    assert cli("model", "train", "bc", cwd=project).exit_code == 0
    assert cli("model", "promote", "bc", cwd=project).exit_code == 0
    data = project / "models" / "data"
    batch = pd.read_csv(data / "breast_cancer_drifted.csv").drop(columns=["diagnosis"])
    batch.to_csv(data / "unlabelled.csv", index=False)
    result = cli(
        "model", "drift", "bc", "--batch", str(data / "unlabelled.csv"), "--json", cwd=project
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["drift"]["fired"] and report["retrained"] is None
    assert report["notes"] == [
        "cannot retrain on the batch: it has no 'diagnosis' labels (set monitor.retrain.data: "
        "dataset to retrain on the refreshed dataset file)"
    ]


@pytest.mark.parametrize(
    ("mode", "rows"),
    [("batch", 169), ("dataset_and_batch", 400 + 169), ("dataset", None)],
)
def test_retraining_uses_the_configured_data(
    cli, project, write_spec, mode: str, rows: int | None
) -> None:  # type: ignore[no-untyped-def]
    import json

    from ml_helpers import FAST_SPEC  # type: ignore[import-not-found]

    write_spec("bc", FAST_SPEC.replace("data: batch}", f"data: {mode}}}"))
    assert cli("model", "train", "bc", cwd=project).exit_code == 0
    assert cli("model", "promote", "bc", cwd=project).exit_code == 0
    batch = project / "models" / "data" / "breast_cancer_drifted.csv"
    result = cli("model", "drift", "bc", "--batch", str(batch), "--json", cwd=project)
    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["drift"]["fired"]
    if rows is None:  # the dataset file is what v1 was trained on: nothing new to learn from
        assert report["retrained"] is None and report["promotion"] is None
        assert report["notes"][0].startswith("the retraining data is unchanged since v1 (dataset ")
        return
    assert report["retrained"]["rows"] == rows
    assert report["retrained"]["version"] == "2"
