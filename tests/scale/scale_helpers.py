"""Helpers for the scale tests: gateway replicas as real ``llmops serve`` processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmops.gateway.auth import hash_key
from llmops.testing import stop_process, wait_for_http, wait_until


def free_port() -> int:
    """Return a loopback port nothing listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """Debian's redis-server on a loopback port, without persistence; stop, pause, restart."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(
                "redis-server not found: install it (apt-get install -y redis-server); "
                ".ci/run does",
                pytrace=False,
            )
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [
            self.binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.folder),
            "--logfile",
            str(self.folder / "redis.log"),
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proc = self.proc

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"redis-server exited with {proc.returncode}")
            return self.ping()

        try:
            wait_until(up, timeout=20, what="redis-server answering PING")
        except AssertionError as exc:
            self.stop()
            pytest.fail(f"redis-server did not start ({exc}): see {self.folder / 'redis.log'}")
        return self

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Kill the server (as a crash would: nothing is saved)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open and nothing answers."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


def keys_env(keys: dict[str, tuple[str, dict[str, Any]]]) -> str:
    """Return LLMOPS_GATEWAY_KEYS for {id: (plain key, extra fields)}."""
    return json.dumps(
        [{"id": kid, "sha256": hash_key(plain), **extra} for kid, (plain, extra) in keys.items()]
    )


class Replica:
    """One ``llmops serve`` process in its own project folder and state root."""

    def __init__(self, folder: Path, config: dict[str, Any], env: dict[str, str]) -> None:
        self.folder = folder
        self.port = free_port()
        config = {**config, "server": {**config.get("server", {}), "port": self.port}}
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "gateway.yaml").write_text(json.dumps(config))
        self.log = folder / "gateway.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "llmops",
                    "serve",
                    "--config",
                    str(folder / "gateway.yaml"),
                    "--log-level",
                    "warning",
                ],
                cwd=folder,
                env={**os.environ, "LLMOPS_HOME": str(folder / "state"), **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{self.port}"
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def wait_ready(self, timeout: float = 120) -> None:
        try:
            wait_for_http(self.url + "/readyz", timeout=timeout, proc=self.proc)
        except AssertionError as exc:
            self.stop()
            pytest.fail(f"gateway did not start ({exc}):\n{self.log.read_text()[-3000:]}")

    def get(self, path: str, key: str) -> httpx.Response:
        return self.client.get(path, headers={"authorization": f"Bearer {key}"})

    def post(self, path: str, key: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.client.post(path, json=body or {}, headers={"authorization": f"Bearer {key}"})

    def stop(self) -> None:
        self.client.close()
        stop_process(self.proc, grace=20)


@contextmanager
def replicas(
    folder: Path, configs: Sequence[dict[str, Any]], env: dict[str, str]
) -> Iterator[list[Replica]]:
    """Start one gateway process per config (in parallel) and stop them all after."""
    started = [Replica(folder / f"replica{i}", c, env) for i, c in enumerate(configs)]
    try:
        for rep in started:
            rep.wait_ready()
        yield started
    finally:
        for rep in started:
            rep.stop()


def eventually(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll ``check`` until it holds or ``timeout`` passes (for state another process owns)."""
    try:
        return bool(wait_until(check, timeout=timeout))
    except AssertionError:
        return False
