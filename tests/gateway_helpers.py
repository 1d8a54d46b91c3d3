"""Helpers for tests that run a gateway: pool configs and a gateway under uvicorn.

Importable from every test folder (``tests/`` is on ``sys.path`` through its conftest.py).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llmops.config import load_settings
from llmops.gateway import GatewayRuntime, GatewayServer
from llmops.gateway.config import GatewayConfig


def http_pool(*base_urls: str, **extra: Any) -> dict[str, Any]:
    """Return a pool config for OpenAI-compatible replicas, fast retries and quick health checks."""
    pool: dict[str, Any] = {
        "kind": "openai",
        "replicas": [{"base_url": u, "name": f"r{i}"} for i, u in enumerate(base_urls)],
        "retries": {"attempts": 3, "backoff": 0.01, "max_backoff": 0.05},
        "health": {"enabled": False},
    }
    pool.update(extra)
    return pool


@contextmanager
def running_gateway(
    config: dict[str, Any],
    root: Path | None = None,
    config_path: Path | None = None,
    *,
    wait_models: bool = True,
) -> Iterator[GatewayServer]:
    """Start a gateway for ``config`` (a gateway.yaml as a dict) under uvicorn; stop it after.

    Without ``root`` the project is a fresh temporary folder: module-scoped gateways start before
    the per-test LLMOPS_HOME exists, and must not write into the repository's ``.llmops/``.
    """
    with tempfile.TemporaryDirectory(prefix="llmops-gw-") as tmp:
        if root is None or "LLMOPS_HOME" not in os.environ:
            config = {**config, "traces": {**config.get("traces", {})}}
            config["traces"].setdefault("url", f"sqlite:///{tmp}/traces.db")
        settings = load_settings(root or Path(tmp))
        runtime = GatewayRuntime(
            GatewayConfig.model_validate(config), settings, config_path=config_path
        )
        server = GatewayServer(runtime)
        server.start(wait_models=wait_models)
        try:
            yield server
        finally:
            server.stop()
