"""Classic-ML serving and drift: the gateway's predict route vs the floor and MLflow's server.

Set-up: a temporary project with the worked example (``models/breast-cancer.yaml``), trained
and promoted into a fresh sqlite store. Then, one after the other on the same machine:

- floor: ``model.predict`` + ``predict_proba`` in process on the same rows (what the route
  returns, without HTTP, checks or the trace row);
- llmops: ``llmops serve`` (a subprocess) answering ``POST /v1/models/breast-cancer/predict``
  (champion lookup, schema check, trace row written per request);
- peer: ``mlflow models serve --env-manager local`` answering ``POST /invocations`` for the
  same registered model;
- drift: ``measure_drift`` of a batch against the 30-feature training profile;
- explanations: the explanation report built with every training run (permutation importance
  and SHAP, timed inside ``train``), one prediction explained in process (cold: model, held-out
  rows and explainer loaded; warm: cached) and the predict route with ``"explain": 5``.

Requests are sequential from one httpx client (latency, not throughput). Prints ONE JSON
document.

    python benchmarks/bench_mlmodels.py            # 300 requests per size, 50k-row drift
    python benchmarks/bench_mlmodels.py --quick    # 60 requests per size, 10k-row drift
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from procs import free_port, stop, wait_http

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGETS = {
    "llmops_1row_p50_ms": 25.0,
    "drift_ms_per_10k_rows": 1000.0,
    "explanation_report_s": 15.0,
    "llmops_1row_explain_p50_ms": 60.0,
}


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
    }


def _time_http(url: str, body: dict[str, Any], n: int) -> dict[str, float]:
    import httpx

    # The first requests load the model (and the explainer): minutes on a saturated machine.
    with httpx.Client(timeout=300) as client:
        for _ in range(5):
            client.post(url, json=body).raise_for_status()
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            client.post(url, json=body).raise_for_status()
            samples.append(time.perf_counter() - start)
    return _stats(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 60 if args.quick else 300
    drift_rows = 10_000 if args.quick else 50_000

    import pandas as pd

    from llmops.config import load_settings
    from llmops.mlmodels.data import profile_frame
    from llmops.mlmodels.drift import measure_drift
    from llmops.mlmodels.registry import promote
    from llmops.mlmodels.spec import load_spec
    from llmops.mlmodels.tracking import connect
    from llmops.mlmodels.training import train

    tmp = Path(tempfile.mkdtemp(prefix="llmops-bench-ml-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        shutil.copytree(REPO / "models", tmp / "models")
        (tmp / "llmops.yaml").write_text("project: bench\n")
        (tmp / "serving").mkdir()
        (tmp / "serving" / "gateway.yaml").write_text("traces: {enabled: true}\n")
        env = {**os.environ, "LLMOPS_HOME": str(tmp / ".llmops")}
        os.environ["LLMOPS_HOME"] = env["LLMOPS_HOME"]
        settings = load_settings(tmp)
        spec = load_spec(tmp / "models" / "breast-cancer.yaml")
        trained = train(spec, settings)
        promote(connect(settings), spec)

        import mlflow

        model = mlflow.sklearn.load_model(f"models:/{spec.name}@champion")
        batch = pd.read_csv(tmp / "models" / "data" / "breast_cancer_drifted.csv")
        features = batch.drop(columns=[spec.target])
        sizes = {"1row": features.head(1), "100rows": pd.concat([features] * 1).head(100)}

        results: dict[str, Any] = {"floor": {}, "llmops": {}, "mlflow_serve": {}}
        for label, frame in sizes.items():
            for _ in range(5):  # warm-up, as for the HTTP servers
                model.predict_proba(frame)
            samples = []
            for _ in range(n):
                start = time.perf_counter()
                model.predict(frame)
                model.predict_proba(frame)  # the route returns both
                samples.append(time.perf_counter() - start)
            results["floor"][label] = _stats(samples)

        port = free_port()
        gw = subprocess.Popen(
            [str(BIN / "llmops"), "serve", "--port", str(port), "--log-level", "warning"],
            cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(gw)
        wait_http(f"http://127.0.0.1:{port}/healthz", gw)
        url = f"http://127.0.0.1:{port}/v1/models/{spec.name}/predict"
        for label, frame in sizes.items():
            body = {"inputs": frame.to_dict(orient="records")}
            results["llmops"][label] = _time_http(url, body, n)
        one_row = sizes["1row"].to_dict(orient="records")
        results["llmops"]["1row_explain5"] = _time_http(url, {"inputs": one_row, "explain": 5}, n)
        stop(gw)

        from llmops.mlmodels.serving import PredictService

        service = PredictService(settings)
        version = str(trained.version)
        start = time.perf_counter()
        service.explain(spec.name, version, one_row, 5)
        cold_s = time.perf_counter() - start
        warm = []
        for _ in range(n):
            start = time.perf_counter()
            service.explain(spec.name, version, one_row, 5)
            warm.append(time.perf_counter() - start)
        service.close()

        port = free_port()
        peer = subprocess.Popen(
            [str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{spec.name}@champion",
             "--env-manager", "local", "-p", str(port), "-h", "127.0.0.1", "-w", "1"],
            cwd=tmp,
            # It execs `uvicorn` by name: put this venv's bin first on PATH.
            env={**env, "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
                 "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(peer)
        try:
            wait_http(f"http://127.0.0.1:{port}/ping", peer)
            for label, frame in sizes.items():
                body = {"dataframe_records": frame.to_dict(orient="records")}
                results["mlflow_serve"][label] = _time_http(
                    f"http://127.0.0.1:{port}/invocations", body, n
                )
        except RuntimeError as exc:
            results["mlflow_serve"] = {"error": str(exc)}
        stop(peer)

        train_frame = pd.read_csv(tmp / "models" / "data" / "breast_cancer.csv")
        profile = profile_frame(train_frame, spec.features.numeric, [], spec.target)
        big = batch.sample(drift_rows, replace=True, random_state=0)
        start = time.perf_counter()
        report = measure_drift(profile, big, spec.monitor.drift)
        drift_s = time.perf_counter() - start

        one = results["llmops"]["1row"]["p50_ms"]
        one_explain = results["llmops"]["1row_explain5"]["p50_ms"]
        report_s = sum((trained.explanation.seconds if trained.explanation else {}).values())
        peer_one = results["mlflow_serve"].get("1row", {}).get("p50_ms")
        out = {
            "benchmark": "mlmodels",
            "quick": args.quick,
            "requests_per_size": n,
            "model": f"{spec.name} v{trained.version} ({spec.estimator.name}, 30 features)",
            "latency": results,
            "drift": {
                "rows": drift_rows,
                "features": len(report.features),
                "ms": round(drift_s * 1000, 1),
                "ms_per_10k_rows": round(drift_s * 1000 * 10_000 / drift_rows, 1),
                "fired": report.fired,
            },
            "explanations": {
                "report_s": round(report_s, 3),
                "report_parts_s": trained.explanation.seconds if trained.explanation else {},
                "report_rows": trained.explanation.rows if trained.explanation else 0,
                "explain_one_row_cold_s": round(cold_s, 3),
                "explain_one_row_warm": _stats(warm),
                "predict_1row_explain5_minus_predict_p50_ms": round(one_explain - one, 3),
            },
            "targets": TARGETS,
            "meets": {
                "explanation_report_s": report_s <= TARGETS["explanation_report_s"],
                "llmops_1row_explain_p50_ms": one_explain <= TARGETS["llmops_1row_explain_p50_ms"],
                "llmops_1row_p50_ms": one <= TARGETS["llmops_1row_p50_ms"],
                "drift_ms_per_10k_rows": drift_s * 1000 * 10_000 / drift_rows
                <= TARGETS["drift_ms_per_10k_rows"],
            },
            "llmops_overhead_p50_ms": {
                k: round(results["llmops"][k]["p50_ms"] - results["floor"][k]["p50_ms"], 3)
                for k in sizes
            },
            "note": "the route returns predictions and probabilities; mlflow serve only predictions",
            "ratios": {
                "llmops_1row_vs_floor": round(one / results["floor"]["1row"]["p50_ms"], 2),
                "llmops_1row_vs_mlflow_serve": round(one / peer_one, 2) if peer_one else None,
                "llmops_100rows_vs_mlflow_serve": (
                    round(
                        results["llmops"]["100rows"]["p50_ms"]
                        / results["mlflow_serve"]["100rows"]["p50_ms"],
                        2,
                    )
                    if "100rows" in results["mlflow_serve"]
                    else None
                ),
            },  # fmt: skip
        }
        print(json.dumps(out, indent=2))
    finally:
        for proc in procs:
            if proc.poll() is None:
                stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
