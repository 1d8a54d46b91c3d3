"""Gateway fixtures: the scripted upstream and the gateway under a real uvicorn on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmops.testing import ScriptedLLMServer


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedLLMServer]:
    """A scripted OpenAI-compatible upstream shared by a test module."""
    with ScriptedLLMServer(latency=0.0) as srv:
        yield srv


@pytest.fixture
def fresh_upstream(upstream: ScriptedLLMServer) -> ScriptedLLMServer:
    """The module's upstream with no queued replies, responder or recorded requests."""
    upstream.reset()
    return upstream


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str:
    for folder in (os.environ.get("LLMOPS_PG_BIN"), "/usr/lib/postgresql/15/bin"):
        if folder and (Path(folder) / name).exists():
            return str(Path(folder) / name)
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"PostgreSQL binary '{name}' not found: install PostgreSQL (apt-get install -y "
            "postgresql) or set LLMOPS_TEST_POSTGRES_URL to a server",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway PostgreSQL server (initdb + pg_ctl on a free loopback port), or the given URL."""
    given = os.environ.get("LLMOPS_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    # Not under pytest's tmp root: that is private to root, and PostgreSQL refuses to run as root.
    base = Path(tempfile.mkdtemp(prefix="llmops-pg-"))
    base.chmod(0o755)
    data = base / "data"
    sock = base / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: run it as the postgres (or nobody) account.
        user = "postgres" if shutil.which("runuser") and _has_user("postgres") else "nobody"
        shutil.chown(base, user)
        shutil.chown(sock, user)
        prefix = ["runuser", "-u", user, "--"]
    port = _free_port()
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *prefix,
            pg_ctl,
            "-D",
            str(data),
            "-w",
            "-t",
            "60",
            "-l",
            str(base / "log"),
            "-o",
            f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(base, ignore_errors=True)


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture
def dead_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
