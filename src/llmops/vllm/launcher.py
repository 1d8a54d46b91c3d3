"""Start a vLLM server from a profile, wait until it is healthy, and stop it cleanly.

vLLM usually lives in an environment of its own (it pins torch and CUDA), so the server runs
under a configurable interpreter: ``vllm.python`` in llmops.yaml or ``LLMOPS_VLLM_PYTHON``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from llmops.address import LocalAddress
from llmops.errors import ConfigError, StateError
from llmops.vllm.profile import VllmProfile, build_command
from llmops.vllm.upstreams import UpstreamRecord, register_upstream

__all__ = [
    "VllmServer",
    "check_vllm_python",
    "free_port",
    "launch",
    "resolve_python",
    "stop_process_group",
]

_PYTHON_HINT = (
    "set vllm.python in llmops.yaml or LLMOPS_VLLM_PYTHON to an interpreter with vLLM "
    "installed (scripts/setup_vllm_cpu.sh builds a CPU one in .venv-vllm)"
)


def resolve_python(configured: str | None) -> str:
    """Return the interpreter path for vLLM: the configured one, else the current one."""
    import sys

    if not configured:
        return sys.executable
    found = shutil.which(configured) if os.sep not in configured else configured
    if found is None or not Path(found).is_file():
        raise ConfigError(
            f"vLLM interpreter '{configured}' does not exist", key="vllm.python", hint=_PYTHON_HINT
        )
    return found


def check_vllm_python(python: str) -> None:
    """Raise ConfigError unless ``import vllm`` can work under ``python`` (cheap spec lookup)."""
    probe = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('vllm') else 3)"
    try:
        done = subprocess.run([python, "-c", probe], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(
            f"cannot run vLLM interpreter '{python}': {exc}", key="vllm.python", hint=_PYTHON_HINT
        ) from None
    if done.returncode != 0:
        raise ConfigError(
            f"vLLM is not installed for {python}", key="vllm.python", hint=_PYTHON_HINT
        )


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free right now on ``host``."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class VllmServer(LocalAddress):
    """One vLLM server process started from a profile."""

    def __init__(self, profile: VllmProfile, python: str, log_path: Path) -> None:
        self.profile = profile
        self.host = profile.host
        self.python = python
        self.log_path = log_path
        listen = profile.host if profile.host not in ("0.0.0.0", "") else "127.0.0.1"
        self.port = profile.port or free_port(listen if ":" not in listen else "::1")
        self.command = build_command(profile, python, port=self.port)
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at: str | None = None
        self._log: IO[bytes] | None = None

    def environment(self) -> dict[str, str]:
        """Return the server's environment: ours, the profile's ``env`` and the API key."""
        env = {**os.environ, **self.profile.env}
        if self.profile.api_key_env:
            key = os.environ.get(self.profile.api_key_env)
            if not key:
                raise ConfigError(
                    f"environment variable {self.profile.api_key_env} is not set",
                    key="api_key_env",
                    file=self.profile.path,
                    hint="export it, or remove api_key_env from the profile",
                )
            env["VLLM_API_KEY"] = key
        return env

    def start(self) -> VllmServer:
        """Start the process (its own session, so stopping reaches its worker processes)."""
        if self.process is not None:
            return self
        env = self.environment()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        return self

    def wait_healthy(self, timeout: float = 900.0, interval: float = 0.5) -> None:
        """Poll ``/health`` until it answers 200; raise StateError if the process dies first."""
        import httpx

        if self.process is None:
            raise StateError("the vLLM server was not started")
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=5.0) as client:
            while True:
                code = self.process.poll()
                if code is not None:
                    raise StateError(
                        f"vLLM exited with code {code} before becoming healthy:\n{self.log_tail()}",
                        file=self.log_path,
                        hint="read the log; common causes: wrong model path, not enough memory "
                        "(lower gpu_memory_utilization), a port in use",
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.url + "/health").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    self.stop()
                    raise StateError(
                        f"vLLM did not become healthy within {timeout:.0f} s:\n{self.log_tail()}",
                        file=self.log_path,
                        hint="raise vllm.startup_timeout (large models load slowly)",
                    )
                time.sleep(interval)

    def log_tail(self, lines: int = 15) -> str:
        """Return the last lines of the server log."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def record(self) -> UpstreamRecord:
        """Return the announcement of this server for the gateway."""
        return UpstreamRecord(
            name=self.profile.served,
            base_url=self.base_url,
            model=self.profile.served,
            health_url=self.url + "/health",
            pid=self.process.pid if self.process is not None else None,
            profile=str(self.profile.path) if self.profile.path is not None else None,
            started_at=self.started_at or datetime.now(UTC).isoformat(timespec="seconds"),
            command=self.command,
        )

    def stop(self, timeout: float = 30.0) -> int | None:
        """Stop the server and its workers (SIGTERM, then SIGKILL); return the exit code."""
        proc = self.process
        if proc is None:
            return None
        if proc.poll() is None:
            stop_process_group(proc.pid, timeout, wait=proc.wait)
        code = proc.poll()
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def __enter__(self) -> VllmServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_process_group(
    pid: int, timeout: float = 30.0, wait: Callable[..., object] | None = None
) -> None:
    """Send SIGTERM to the process group led by ``pid``; SIGKILL it after ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if wait is not None:
            try:
                wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                continue
        else:
            from llmops.vllm.upstreams import pid_alive

            if not pid_alive(pid):
                break
            time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def launch(
    profile: VllmProfile,
    state_path: Path,
    *,
    python: str | None = None,
    timeout: float = 900.0,
) -> tuple[VllmServer, Path]:
    """Start ``profile`` under ``python``, wait for /health, announce it; return server + file."""
    interpreter = resolve_python(python)
    check_vllm_python(interpreter)
    log_path = state_path / "vllm" / f"{profile.name}.log"
    server = VllmServer(profile, interpreter, log_path).start()
    try:
        server.wait_healthy(timeout)
    except BaseException:
        server.stop()
        raise
    return server, register_upstream(state_path, server.record())
