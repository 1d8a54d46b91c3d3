"""`POST /v1/models/{name}/predict` through the real gateway under uvicorn on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from ml_helpers import FAST_SPEC  # type: ignore[import-not-found]

from llmops.config import Settings, load_settings
from llmops.gateway import GatewayRuntime, GatewayServer
from llmops.gateway.config import GatewayConfig
from llmops.testing import ManualClock, wait_until
from llmops.traces import TraceStore


@pytest.fixture
def clock() -> ManualClock:
    """The gateway's clock: the alias cache expires only when a test advances it."""
    return ManualClock()


@pytest.fixture
def served(cli, project: Path, clock: ManualClock) -> Iterator[tuple[str, Settings]]:  # type: ignore[no-untyped-def]
    """Train and promote ``bc``, then start the gateway (no LLM routes needed) for the project."""
    assert cli("model", "train", "bc", cwd=project).exit_code == 0
    assert cli("model", "promote", "bc", cwd=project).exit_code == 0
    settings = load_settings(project)
    runtime = GatewayRuntime(GatewayConfig.model_validate({}), settings)
    runtime.clock = clock
    with GatewayServer(runtime) as server:
        yield server.url, settings


def _rows(project: Path, n: int, name: str = "breast_cancer.csv") -> list[dict[str, Any]]:
    frame = pd.read_csv(project / "models" / "data" / name).drop(columns=["diagnosis"])
    return frame.head(n).to_dict(orient="records")  # type: ignore[return-value]


def _traces(settings: Settings, expect: int = 0, **query: Any) -> list[dict[str, Any]]:
    """Return the traces of model bc, waiting up to 10 s for ``expect`` of them.

    The gateway's trace writer batches rows (flushing every 0.5 s), as for chat requests.
    """
    store = TraceStore(settings.trace_url)
    try:
        wait_until(
            lambda: len(store.query(route="model:bc", **query)) >= expect,
            timeout=10,
            what=f"{expect} trace(s) of model bc",
        )
        return store.query(route="model:bc", **query)
    finally:
        store.close()


def test_predict_with_the_champion_and_log_a_trace(served, project: Path) -> None:  # type: ignore[no-untyped-def]
    url, settings = served
    rows = _rows(project, 3)
    r = httpx.post(f"{url}/v1/models/bc/predict", json={"inputs": rows}, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "bc" and body["version"] == "1" and body["alias"] == "champion"
    assert len(body["predictions"]) == 3
    assert set(body["predictions"]) <= {"benign", "malignant"}
    assert set(body["probabilities"][0]) == {"benign", "malignant"}
    assert sum(body["probabilities"][0].values()) == pytest.approx(1.0, abs=1e-5)
    # The same rows through the registry's model give the same answers.
    import mlflow

    model = mlflow.sklearn.load_model("models:/bc@champion")
    assert list(model.predict(pd.DataFrame(rows))) == body["predictions"]
    [trace] = _traces(settings, expect=1)
    assert trace["request_id"] == body["id"] == r.headers["x-request-id"]
    assert trace["endpoint"] == "predict" and trace["status"] == 200
    assert trace["upstream_model"] == "bc/1" and trace["arm"] == "champion"
    assert trace["extra"]["inputs"] == rows
    assert trace["extra"]["predictions"] == body["predictions"]


@pytest.mark.parametrize(
    ("change", "status", "code", "param", "message"),
    [
        (lambda r: r.pop("mean_radius"), 422, "missing_column", "inputs[0].mean_radius",
         "inputs[0] is missing column 'mean_radius'"),
        (lambda r: r.update(mean_texture="high"), 422, "wrong_type", "inputs[0].mean_texture",
         'inputs[0].mean_texture must be a finite number (training dtype float64), got "high"'),
        (lambda r: r.update(mean_radiuss=1.0), 422, "unknown_column", "inputs[0].mean_radiuss",
         "inputs[0] has unknown column 'mean_radiuss' (did you mean 'mean_radius'?)"),
    ],
    ids=["missing-column", "wrong-type", "unknown-column"],
)  # fmt: skip
def test_inputs_not_matching_the_training_schema_are_422(
    served,  # type: ignore[no-untyped-def]
    project: Path,
    change: Any,
    status: int,
    code: str,
    param: str,
    message: str,
) -> None:
    url, settings = served
    row = _rows(project, 1)[0]
    change(row)
    r = httpx.post(f"{url}/v1/models/bc/predict", json={"inputs": [row]}, timeout=30)
    assert r.status_code == status
    assert r.json() == {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }
    [trace] = _traces(settings, expect=1)
    assert trace["status"] == 422 and trace["error_code"] == code


def test_unknown_model_and_bad_bodies(served) -> None:  # type: ignore[no-untyped-def]
    url, _ = served
    r = httpx.post(f"{url}/v1/models/nope/predict", json={"inputs": [{}]}, timeout=30)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"
    assert "model 'nope' has no champion" in r.json()["error"]["message"]
    r = httpx.post(f"{url}/v1/models/bc/predict", content=b"{not json", timeout=30)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = httpx.post(f"{url}/v1/models/bc/predict", json={"rows": []}, timeout=30)
    assert r.status_code == 422 and r.json()["error"]["param"] == "inputs"


def test_shadow_scoring_of_the_challenger(  # type: ignore[no-untyped-def]
    served, cli, project: Path, write_spec: Any
) -> None:
    url, settings = served
    other = FAST_SPEC.replace("{max_iter: 3000}", "{max_iter: 3000, C: 0.01}")
    assert cli("model", "train", str(write_spec("other", other)), cwd=project).exit_code == 0
    rows = _rows(project, 5)
    r = httpx.post(f"{url}/v1/models/bc/predict?shadow=true", json={"inputs": rows}, timeout=30)
    assert r.status_code == 200 and r.json()["version"] == "1"
    shadow = _traces(settings, expect=1, arm="challenger")
    assert len(shadow) == 1, "the challenger's shadow trace was not logged"
    assert shadow[0]["shadow_of"] == r.json()["id"]
    assert shadow[0]["upstream_model"] == "bc/2" and shadow[0]["status"] == 200
    assert len(shadow[0]["extra"]["predictions"]) == 5
    assert "probabilities" in shadow[0]["extra"]


def test_drift_monitor_reads_logged_inputs(served, cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    url, settings = served
    for start in range(0, 160, 40):
        rows = _rows(project, 169, "breast_cancer_drifted.csv")[start : start + 40]
        r = httpx.post(f"{url}/v1/models/bc/predict", json={"inputs": rows}, timeout=30)
        assert r.status_code == 200
    assert len(_traces(settings, expect=4)) == 4  # the writer has flushed the four requests
    result = cli("model", "drift", "bc", "--no-retrain", "--json", cwd=project)
    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["source"].startswith("trace store")
    assert report["drift"]["rows"] == 160 and report["drift"]["fired"] is True
    assert "mean_radius" in report["drift"]["drifted_features"]
    assert report["retrained"] is None
    assert "retraining is off" in report["notes"][0]


def test_lost_model_artifacts_are_a_traced_500(served, project: Path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    url, settings = served
    shutil.rmtree(settings.state_path / "mlartifacts")  # the artifact store lost the files
    r = httpx.post(f"{url}/v1/models/bc/predict", json={"inputs": _rows(project, 1)}, timeout=30)
    assert r.status_code == 500
    error = r.json()["error"]
    assert error["code"] == "prediction_failed" and error["type"] == "api_error"
    assert error["message"].startswith("model 'bc' v1 failed: ")
    [trace] = _traces(settings, expect=1)
    assert trace["status"] == 500 and trace["error_code"] == "prediction_failed"


def test_promotion_and_rollback_reach_a_running_gateway(  # type: ignore[no-untyped-def]
    served, cli, project: Path, clock: ManualClock
) -> None:
    from llmops.mlmodels.serving import ALIAS_TTL

    url, _ = served
    body = {"inputs": _rows(project, 1)}
    assert httpx.post(f"{url}/v1/models/bc/predict", json=body, timeout=30).json()["version"] == "1"
    batch = project / "models" / "data" / "breast_cancer_drifted.csv"
    drift = cli("model", "drift", "bc", "--batch", str(batch), cwd=project)
    assert drift.exit_code == 1 and "promoted: challenger v2" in drift.stdout
    # Within the alias TTL the gateway still answers with the version it resolved.
    clock.advance(ALIAS_TTL - 0.1)
    assert httpx.post(f"{url}/v1/models/bc/predict", json=body, timeout=30).json()["version"] == "1"
    clock.advance(0.2)
    assert httpx.post(f"{url}/v1/models/bc/predict", json=body, timeout=30).json()["version"] == "2"
    assert cli("model", "rollback", "bc", cwd=project).exit_code == 0
    clock.advance(ALIAS_TTL + 0.1)
    assert httpx.post(f"{url}/v1/models/bc/predict", json=body, timeout=30).json()["version"] == "1"


def test_drift_reads_the_trace_store_named_in_gateway_yaml(
    cli, project: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from llmops.gateway.config import load_gateway_config

    assert cli("model", "train", "bc", cwd=project).exit_code == 0
    assert cli("model", "promote", "bc", cwd=project).exit_code == 0
    custom = f"sqlite:///{tmp_path / 'gateway-traces.db'}"
    config_path = project / "serving" / "gateway.yaml"
    config_path.parent.mkdir(exist_ok=True)
    config_path.write_text(f"traces:\n  url: {custom}\n", "utf-8")
    settings = load_settings(project)
    runtime = GatewayRuntime(load_gateway_config(config_path), settings)
    with GatewayServer(runtime) as server:
        rows = _rows(project, 169, "breast_cancer_drifted.csv")[:120]
        r = httpx.post(f"{server.url}/v1/models/bc/predict", json={"inputs": rows}, timeout=30)
        assert r.status_code == 200
    assert _traces(settings) == []  # nothing went to the default store
    result = cli("model", "drift", "bc", "--no-retrain", "--json", cwd=project)
    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["source"] == f"trace store ({custom})"
    assert report["drift"]["rows"] == 120 and report["drift"]["fired"] is True
    # --traces overrides: the default store holds no logged inputs
    other = cli("model", "drift", "bc", "--no-retrain", "--traces", settings.trace_url, cwd=project)
    assert other.exit_code == 2, other.stderr
    assert other.stderr.startswith(
        f"error: no logged predictions for model 'bc' in the trace store {settings.trace_url}"
    )


def test_predictions_join_the_gateways_batched_trace_writer(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("model", "train", "bc", cwd=project).exit_code == 0
    assert cli("model", "promote", "bc", cwd=project).exit_code == 0
    settings = load_settings(project)
    config = GatewayConfig.model_validate({"traces": {"flush_interval": 60}})
    runtime = GatewayRuntime(config, settings)
    with GatewayServer(runtime) as server:
        r = httpx.post(
            f"{server.url}/v1/models/bc/predict", json={"inputs": _rows(project, 2)}, timeout=30
        )
        assert r.status_code == 200
        assert _traces(settings) == []  # queued, not written on the request path
        assert runtime.writer.flush()
        [trace] = _traces(settings)
        assert trace["extra"]["inputs"] == _rows(project, 2)
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert 'route="model:bc"' in metrics and 'endpoint="predict"' in metrics


def test_predict_returns_top_contributions_on_request(served, project: Path) -> None:  # type: ignore[no-untyped-def]
    import math

    url, settings = served
    rows = _rows(project, 2)
    r = httpx.post(f"{url}/v1/models/bc/predict", json={"inputs": rows, "explain": 3}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["explanations"]) == 2
    for explained, prediction, proba in zip(
        body["explanations"], body["predictions"], body["probabilities"], strict=True
    ):
        assert explained["prediction"] == prediction
        assert explained["explained"] == "log-odds(malignant)"
        assert len(explained["contributions"]) == 3
        sizes = [abs(c["contribution"]) for c in explained["contributions"]]
        assert sizes == sorted(sizes, reverse=True)
        # base + shown + rest = the log-odds of the probability the route returned
        total = explained["base_value"] + sum(c["contribution"] for c in explained["contributions"])
        assert total + explained["rest"] == pytest.approx(explained["output"])
        # (the route rounds probabilities to 6 digits: compare on the probability scale)
        sigmoid = 1 / (1 + math.exp(-explained["output"]))
        assert sigmoid == pytest.approx(proba["malignant"], abs=1e-5)
    assert (
        "explanations"
        not in httpx.post(f"{url}/v1/models/bc/predict", json={"inputs": rows}, timeout=30).json()
    )
    default = httpx.post(
        f"{url}/v1/models/bc/predict", json={"inputs": rows[:1], "explain": True}, timeout=30
    ).json()
    assert len(default["explanations"][0]["contributions"]) == 5
    for explain, code, message in [
        (0, "invalid_input", "'explain' must be true or a number of contributions from 1 to 50, got 0"),
        ("yes", "invalid_input", "'explain' must be true or a number of contributions from 1 to 50, got \"yes\""),
    ]:  # fmt: skip
        bad = httpx.post(
            f"{url}/v1/models/bc/predict", json={"inputs": rows, "explain": explain}, timeout=30
        )
        assert bad.status_code == 422
        assert bad.json()["error"] == {
            "message": message, "type": "invalid_request_error", "param": "explain", "code": code,
        }  # fmt: skip
    many = _rows(project, 101)
    bad = httpx.post(f"{url}/v1/models/bc/predict", json={"inputs": many, "explain": 1}, timeout=30)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "too_many_rows"
    assert (
        "at most 100 rows per request can be explained, got 101" in bad.json()["error"]["message"]
    )


def test_predict_explain_is_refused_for_a_model_without_an_exact_explainer(  # type: ignore[no-untyped-def]
    cli, project: Path, write_spec: Any
) -> None:
    svc = FAST_SPEC.replace("name: LogisticRegression", "name: SVC").replace(
        "{max_iter: 3000}", "{probability: true, random_state: 0}"
    )
    write_spec("bc", svc)
    assert cli("model", "train", "bc", cwd=project).exit_code == 0
    assert cli("model", "promote", "bc", cwd=project).exit_code == 0
    runtime = GatewayRuntime(GatewayConfig.model_validate({}), load_settings(project))
    with GatewayServer(runtime) as server:
        r = httpx.post(
            f"{server.url}/v1/models/bc/predict",
            json={"inputs": _rows(project, 1), "explain": True},
            timeout=60,
        )
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "explain_unsupported" and error["param"] == "explain"
    assert error["message"].startswith("model 'bc' v1 cannot explain predictions: SVC has no exact")
