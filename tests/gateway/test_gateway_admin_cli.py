"""The CLI works while a gateway owns the embedded store: it goes through the gateway's admin API
with the local admin credential (owner-only file, removed on clean shutdown, stale when the
gateway's process is gone)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from project_files import write_rag_project

from llmops.config import load_settings
from llmops.errors import StateError, UsageError
from llmops.gateway.credential import credential_path, read_credential, write_credential
from llmops.testing import wait_for_http

DOCS = {
    "pasta.md": "# Pasta\n\nBoil salted water and cook the spaghetti for nine minutes.\n",
    "planets.md": "# Planets\n\nJupiter is the largest planet in the solar system.\n",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def project(tmp_path: Path, cli: Any) -> Iterator[Path]:
    root = write_rag_project(tmp_path / "admincli", DOCS)
    built = cli("index", "run", "docs", "--json", cwd=root)
    assert built.exit_code == 0, built.stderr
    from llmops.rag.store import close_stores

    close_stores()  # this process lets go of the store: the gateway will own it
    yield root
    close_stores()


@pytest.fixture
def gateway(project: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``llmops serve`` in its own process, owning the project's store."""
    port = _free_port()
    config = {
        "server": {"port": port, "embedding_models": []},
        "upstreams": {"offline": {"kind": "extractive"}},
        "routes": {"docs": {"upstream": "offline", "pipeline": "docs"}},
        "traces": {"enabled": False},
    }
    serving = project / "serving"
    serving.mkdir()
    (serving / "gateway.yaml").write_text(json.dumps(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmops", "serve", "--log-level", "warning"],
        cwd=project,
        env={**os.environ},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/readyz", timeout=120, proc=proc)
    except AssertionError as exc:
        proc.kill()
        pytest.fail(f"the gateway did not start: {exc}")
    # A RAG request makes the gateway open the store (it keeps it for its life).
    r = httpx.post(
        url + "/v1/chat/completions",
        json={"model": "docs", "messages": [{"role": "user", "content": "largest planet?"}]},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    yield proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_cli_reaches_the_running_gateway(
    project: Path, gateway: subprocess.Popen[bytes], cli: Any
) -> None:
    settings = load_settings(project)
    # This process is locked out of the store the gateway owns...
    from llmops.rag import Retriever

    with pytest.raises(StateError, match="open in another process"):
        Retriever.from_pipeline("docs", settings).retrieve("pasta")
    # ...and the commands work all the same, through the gateway's admin API.
    found = cli("query", "docs", "how long to cook spaghetti", "--json", cwd=project)
    assert found.exit_code == 0, found.stderr
    chunks = json.loads(found.stdout)["chunks"]
    assert "spaghetti" in chunks[0]["text"]
    # The remote retriever forwards the local one's options; the gateway refuses a wrong one.
    from llmops.gateway.admin_client import RemoteRetriever, retriever_for

    remote = retriever_for("docs", settings)
    assert isinstance(remote, RemoteRetriever)
    one = remote.retrieve("largest planet", k=1, mmr=True)
    assert len(one.chunks) == 1 and "Jupiter" in one.chunks[0].text
    with pytest.raises(UsageError, match="top_k"):
        remote.retrieve("largest planet", top_k=1)
    status = cli("index", "status", "docs", "--json", cwd=project)
    assert status.exit_code == 0, status.stderr
    served = json.loads(status.stdout)
    assert served["served_version"] and served["chunks"] >= 2
    (project / "docs" / "bikes.md").write_text("# Bikes\n\nOil the chain every 300 km.\n")
    rebuilt = cli("index", "run", "docs", "--json", cwd=project)
    assert rebuilt.exit_code == 0, rebuilt.stderr
    run = json.loads(rebuilt.stdout)
    assert run["switched"] and run["previous_version"] == served["served_version"]
    bikes = cli("query", "docs", "how often to oil the chain", "--json", cwd=project)
    assert "chain" in json.loads(bikes.stdout)["chunks"][0]["text"]
    back = cli("index", "rollback", "docs", "--json", cwd=project)
    assert (
        back.exit_code == 0 and json.loads(back.stdout)["index_version"] == served["served_version"]
    )
    missing = cli("query", "nope", "x", cwd=project)
    assert missing.exit_code == 2 and "nope" in missing.stderr
    # The shrink guard holds through the gateway too: emptied sources do not replace the index.
    for doc in (project / "docs").glob("*.md"):
        doc.unlink()
    emptied = cli("index", "run", "docs", cwd=project)
    assert emptied.exit_code != 0 and "--allow-shrink" in emptied.stderr
    still = json.loads(cli("index", "status", "docs", "--json", cwd=project).stdout)
    assert still["served_version"] == served["served_version"]
    # The credential: private to its owner, and gone after a clean shutdown.
    path = credential_path(settings.state_path)
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == os.getuid()
    cred = read_credential(settings.state_path)
    assert cred is not None and cred.pid == gateway.pid
    # Without the token the admin API stays closed (auth is off: admin is disabled).
    assert httpx.get(cred.url + "/admin/upstreams").status_code == 403
    ok = httpx.get(cred.url + "/admin/upstreams", headers={"authorization": f"Bearer {cred.token}"})
    assert ok.status_code == 200
    gateway.send_signal(signal.SIGTERM)
    gateway.wait(30)
    assert not path.exists()


def test_a_stale_credential_is_ignored_and_a_shared_one_refused(project: Path, cli: Any) -> None:
    settings = load_settings(project)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = write_credential(settings.state_path, "http://127.0.0.1:9", "t0ken")
    assert path is not None
    record = json.loads(path.read_text())
    record["pid"], record["started"] = dead.pid, None
    path.write_text(json.dumps(record))
    path.chmod(0o600)
    assert read_credential(settings.state_path) is None  # the gateway died: stale
    found = cli("query", "docs", "largest planet", "--json", cwd=project)
    assert found.exit_code == 0, found.stderr  # works locally
    record["pid"] = os.getpid()  # alive
    path.write_text(json.dumps(record))
    path.chmod(0o644)
    with pytest.raises(StateError, match="not private"):
        read_credential(settings.state_path)
    shutil.rmtree(path.parent)
