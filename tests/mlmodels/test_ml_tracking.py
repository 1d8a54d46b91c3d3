"""Tracking URIs: an unreachable server is one fast, clear error; a real `mlflow server` works."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llmops.testing import stop_process, wait_for_http


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_tracking_server_is_a_clear_fast_error(
    cli,  # type: ignore[no-untyped-def]
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("LLMOPS_MLFLOW_TRACKING_URI", uri)
    started = time.monotonic()
    result = cli("model", "train", "bc", cwd=project)
    elapsed = time.monotonic() - started
    assert result.exit_code == 1
    first = result.stderr.strip().splitlines()[0]
    assert first.startswith(
        f"error: cannot reach the MLflow tracking server at {uri} (ConnectError"
    )
    assert "hint: start the server, or point mlflow.tracking_uri" in " ".join(result.stderr.split())
    assert elapsed < 5, f"took {elapsed:.1f}s"


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    """Start a real `mlflow server` on loopback (sqlite backend, local artifacts)."""
    port = _free_port()
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    mlflow_bin = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    log_path = tmp_path / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            mlflow_bin, "server", "--host", "127.0.0.1", "--port", str(port),
            "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination", str(tmp_path / "artifacts"), "--workers", "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        # A file, not a pipe: the server logs every request to stderr, and a pipe nobody reads
        # fills up (64 KiB) and blocks the server mid-test.
        stderr=log,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for_http(f"{url}/health", timeout=90, proc=proc)
        except AssertionError as exc:
            err = log_path.read_text(errors="replace")
            raise RuntimeError(f"mlflow server did not start ({exc}): {err[-2000:]}") from None
        yield url
    finally:
        stop_process(proc, grace=15)
        log.close()


@pytest.mark.slow
def test_lifecycle_against_a_real_mlflow_server(
    cli,  # type: ignore[no-untyped-def]
    project: Path,
    mlflow_server: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLMOPS_MLFLOW_TRACKING_URI", mlflow_server)
    trained = cli("model", "train", "bc", "--json", cwd=project)
    assert trained.exit_code == 0, trained.stderr
    run_id = json.loads(trained.stdout)["run_id"]
    assert cli("model", "promote", "bc", cwd=project).exit_code == 0
    batch = project / "models" / "data" / "breast_cancer_drifted.csv"
    drift = cli("model", "drift", "bc", "--batch", str(batch), "--json", cwd=project)
    assert drift.exit_code == 1
    assert json.loads(drift.stdout)["promotion"]["passed"] is True
    # The server holds the runs and the registry, not the local store.
    got = httpx.get(
        f"{mlflow_server}/api/2.0/mlflow/registered-models/alias",
        params={"name": "bc", "alias": "champion"},
        timeout=10,
    ).json()
    assert got["model_version"]["version"] == "2"
    run = httpx.get(
        f"{mlflow_server}/api/2.0/mlflow/runs/get", params={"run_id": run_id}, timeout=10
    ).json()
    assert run["run"]["info"]["status"] == "FINISHED"
