"""Action gates (cool-down, budget, dry run) and the continuous-training triggers that are not
covered end to end elsewhere: retraining a classic model on a real MLflow store."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from llmops.config import Settings, load_settings
from llmops.monitor.actions import ActionContext, run_action
from llmops.monitor.journal import Journal
from llmops.monitor.queries import Window
from llmops.monitor.settings import ActionSpec
from llmops.monitor.signals import Evaluator
from llmops.traces import TraceRecord, TraceStore

NOW = 1_780_000_000.0
REPO = Path(__file__).resolve().parents[2]


def _ctx(store: TraceStore, settings: Settings, at: float, rule: str = "r") -> ActionContext:
    return ActionContext(
        settings=settings, store=store, evaluator=Evaluator(store, settings), rule=rule,
        signal="error_rate", route="qa", window=Window(at - 3600, at),
        evidence={"message": "test"}, clock=lambda: at,
    )  # fmt: skip


def test_cooldown_budget_and_dry_run_gate_every_action(tmp_path: Path) -> None:
    store = TraceStore(f"sqlite:///{tmp_path / 't.db'}")
    settings = Settings()
    spec = ActionSpec(type="log", cooldown="10m", budget=2, budget_window="1d")
    first = run_action("note", spec, _ctx(store, settings, NOW))
    assert first.status == "done"
    soon = run_action("note", spec, _ctx(store, settings, NOW + 60))
    assert soon.status == "skipped" and "cool-down" in soon.reason and "60 s ago" in soon.reason
    other_rule = run_action("note", spec, _ctx(store, settings, NOW + 61, rule="other"))
    assert other_rule.status == "done"  # notifications cool down per rule
    later = run_action("note", spec, _ctx(store, settings, NOW + 3600))
    assert later.status == "skipped" and "budget spent: 2 of 2" in later.reason
    next_day = run_action("note", spec, _ctx(store, settings, NOW + 2 * 86400))
    assert next_day.status == "done"
    dry = ActionSpec(type="reindex", pipeline="nowhere", dry_run=True)
    planned = run_action("reindex-nowhere", dry, _ctx(store, settings, NOW))
    assert planned.status == "dry_run" and "would re-index pipeline nowhere" in planned.reason
    failed = run_action("reindex-nowhere", ActionSpec(type="reindex", pipeline="nowhere"),
                        _ctx(store, settings, NOW + 7200))  # fmt: skip
    assert failed.status == "failed" and "no pipeline 'nowhere'" in failed.reason
    statuses = [(e.action, e.status) for e in Journal(store).entries()]
    assert statuses.count(("note", "skipped")) == 2  # one row per distinct reason
    assert ("reindex-nowhere", "dry_run") in statuses and ("reindex-nowhere", "failed") in statuses
    entry = Journal(store).entries()[0]
    assert entry.evidence == {"message": "test"}


def _ml_helpers() -> Any:
    spec = importlib.util.spec_from_file_location(
        "_ml_helpers", REPO / "tests/mlmodels/ml_helpers.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_retrain_trigger_retrains_on_drifted_logged_inputs(cli: Any, tmp_path: Path) -> None:
    from llmops.mlmodels.serving import prediction_route

    helpers = _ml_helpers()
    root = tmp_path / "proj"
    shutil.copytree(REPO / "models", root / "models")
    spec_text = helpers.FAST_SPEC.replace("data: batch}", "data: dataset}")
    (root / "models" / "bc.yaml").write_text(spec_text)
    (root / "llmops.yaml").write_text("project: retrain\n")
    assert cli("model", "train", "bc", cwd=root).exit_code == 0
    assert cli("model", "promote", "bc", cwd=root).exit_code == 0
    settings = load_settings(root)
    store = TraceStore(settings.trace_url)
    drifted = pd.read_csv(root / "models" / "data" / "breast_cancer_drifted.csv")
    rows = json.loads(drifted.drop(columns=["diagnosis"]).to_json(orient="records"))
    store.write(
        [
            TraceRecord(f"p{i}", ts=NOW, endpoint="predict", route=prediction_route("bc"),
                        arm="champion", upstream="mlflow", extra={"inputs": rows[i : i + 10]})
            for i in range(0, len(rows), 10)
        ]
    )  # fmt: skip
    action = ActionSpec(type="retrain", model="bc")
    # The dataset file is what v1 was trained on: the trigger fires but makes no new version.
    unchanged = run_action("retrain-bc", action, _ctx(store, settings, NOW))
    assert unchanged.status == "done", unchanged.reason
    assert unchanged.result["drift"]["fired"]
    assert unchanged.result["retrained"] is None
    assert any("unchanged since v1" in note for note in unchanged.result["notes"])
    # Refreshed with the labelled drifted rows, the trigger retrains and registers v2 (another
    # action name: the first one is in its cool-down).
    dataset = root / "models" / "data" / "breast_cancer.csv"
    refreshed = pd.concat([pd.read_csv(dataset), drifted], ignore_index=True)
    refreshed.to_csv(dataset, index=False)
    outcome = run_action("retrain-bc-refreshed", action, _ctx(store, settings, NOW))
    assert outcome.status == "done", outcome.reason
    assert outcome.result["drift"]["fired"]
    assert outcome.result["retrained"]["version"] == "2"
    assert outcome.result["source"].startswith("trace store")
    store.close()
