"""Helpers the benchmark scripts share: wait for a server process, stop it (not a benchmark)."""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Any

from llmops.vllm.launcher import free_port

__all__ = ["free_port", "gateway_config", "stop", "wait_http"]


def gateway_config(port: int, upstream: str) -> dict[str, Any]:
    """Return the gateway.yaml the benchmarks serve: one OpenAI-compatible upstream behind the
    route ``bench``, traces on, and the completion path only (no embedding model loaded at
    start: it adds ~500 MB)."""
    return {
        "server": {"port": port, "embedding_models": []},
        "upstreams": {
            "up": {
                "kind": "openai",
                "replicas": [{"base_url": upstream}],
                "health": {"interval": 5},
            }
        },
        "routes": {"bench": {"upstream": "up"}},
        "traces": {"enabled": True},
    }


def wait_http(url: str, proc: subprocess.Popen[Any], timeout: float = 120) -> None:
    """Poll ``url`` until it answers below 500; fail if ``proc`` exits or time runs out."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def stop(proc: subprocess.Popen[Any] | None, *, interrupt: bool = False) -> None:
    """Stop ``proc`` (SIGTERM, or SIGINT with ``interrupt``); kill it after 15 s."""
    from llmops.testing.processes import stop_process

    if proc is not None:
        stop_process(proc, 15, signal.SIGINT if interrupt else signal.SIGTERM)
