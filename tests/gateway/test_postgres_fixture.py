"""The throwaway PostgreSQL of the test suite does not outlive a pytest run that is killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from llmops.testing import wait_until

TESTS = Path(__file__).resolve().parents[1]

_CONFTEST = f"""
import importlib.util
import sys

def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

_suite = _load("suite_conftest", {str(TESTS / "conftest.py")!r})
globals().update({{k: v for k, v in vars(_suite).items() if k.startswith("pytest_")}})
postgres_url = _load("gateway_conftest", {str(TESTS / "gateway" / "conftest.py")!r}).postgres_url
"""

_TEST = """
import os
import threading
from pathlib import Path

def test_holds_the_server(postgres_url):
    Path(os.environ["PG_URL_FILE"]).write_text(postgres_url)
    threading.Event().wait(300)  # until the parent test sends SIGTERM
"""


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _stop_orphans(port: int) -> None:
    """Stop a server the child left behind (only if the behaviour under test is broken)."""
    for pidfile in Path(tempfile.gettempdir()).glob("llmops-pg-*/data/postmaster.pid"):
        lines = pidfile.read_text().splitlines()
        if len(lines) > 3 and lines[3].strip() == str(port):
            os.kill(int(lines[0]), signal.SIGQUIT)


def test_sigterm_stops_the_throwaway_postgres(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LLMOPS_TEST_POSTGRES_URL"}
    env["PG_URL_FILE"] = str(tmp_path / "url")
    (tmp_path / "conftest.py").write_text(_CONFTEST)
    (tmp_path / "test_child.py").write_text(_TEST)
    child = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_child.py"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    port = 0
    try:

        def started() -> str | None:
            assert child.poll() is None, child.communicate()[0].decode()
            return (tmp_path / "url").read_text() if (tmp_path / "url").exists() else None

        url = wait_until(started, timeout=120, what="the child's PostgreSQL")
        port = int(urlsplit(str(url)).port or 0)
        assert _accepts(port)
        child.send_signal(signal.SIGTERM)
        out, _ = child.communicate(timeout=120)
        assert child.returncode == 2, out.decode()  # pytest's "interrupted"
        assert b"KeyboardInterrupt" in out
        assert not _accepts(port), "the PostgreSQL server outlived the killed pytest run"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if port and _accepts(port):
            _stop_orphans(port)
