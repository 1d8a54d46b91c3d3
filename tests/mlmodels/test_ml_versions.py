"""Dataset versions: content hashes in the run and the card; unchanged retrains say so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from llmops.config import Settings
from llmops.mlmodels.data import dataset_hash
from llmops.mlmodels.tracking import connect


def _train(cli: Any, project: Path, *args: str) -> dict[str, Any]:
    result = cli("model", "train", "bc", "--json", *args, cwd=project)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_hashes_are_in_the_run_and_the_card(cli, project: Path, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    out = _train(cli, project)
    data = pd.read_csv(project / "models" / "data" / "breast_cancer.csv")
    assert out["dataset_hash"] == dataset_hash(data)  # the file's content, independently hashed
    client = connect(settings)
    run = client.get_run(out["run_id"])
    assert run.data.tags["llmops.dataset_hash"] == out["dataset_hash"]
    holdout = pd.read_csv(client.download_artifacts(out["run_id"], "holdout.csv", str(project)))
    assert run.data.tags["llmops.holdout_hash"] == out["holdout_hash"] == dataset_hash(holdout)
    contexts = {
        t.value: i.dataset
        for i in run.inputs.dataset_inputs
        for t in i.tags
        if t.key == "mlflow.data.context"
    }
    assert set(contexts) == {"training", "evaluation"}
    assert contexts["training"].digest == out["dataset_hash"][:16]
    assert contexts["evaluation"].digest == out["holdout_hash"][:16]
    card = cli("model", "card", "bc", cwd=project).stdout
    assert f"- Dataset version (sha256 of the validated data): `{out['dataset_hash']}`" in card
    assert f"- Held-out rows version: `{out['holdout_hash']}`" in card


def test_retrain_on_unchanged_data_says_so(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    first = _train(cli, project)
    assert first["version"] == "1"
    again = cli("model", "train", "bc", cwd=project)
    assert again.exit_code == 0, again.stderr
    assert " ".join(again.stdout.split()) == (
        f"unchanged: bc v1 was trained on the same data (dataset {first['dataset_hash'][:12]}) "
        "with the same spec; no new version (--force to train anyway)"
    )
    same = _train(cli, project)
    assert same["unchanged_since"] == "1" and same["run_id"] == first["run_id"]
    show = json.loads(cli("model", "show", "bc", "--json", cwd=project).stdout)
    assert [v["version"] for v in show["versions"]] == ["1"]
    # --force trains anyway; changed data or a changed spec is a new version without it.
    assert _train(cli, project, "--force")["version"] == "2"
    path = project / "models" / "data" / "breast_cancer.csv"
    pd.read_csv(path).iloc[:-1].to_csv(path, index=False)
    changed = _train(cli, project)
    assert changed["version"] == "3" and changed["unchanged_since"] is None
    spec = project / "models" / "bc.yaml"
    spec.write_text(spec.read_text().replace("{max_iter: 3000}", "{max_iter: 3000, C: 0.5}"))
    assert _train(cli, project)["version"] == "4"
    # A run without registration is always a new run.
    assert _train(cli, project, "--no-register")["version"] is None
