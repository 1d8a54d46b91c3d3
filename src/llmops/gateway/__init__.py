"""The OpenAI-compatible gateway: routes, prompts, RAG, upstream pools, release strategies,
security and observability in front of vLLM or any OpenAI-compatible server.

Importing the package is cheap: the public names load their modules on first use, so the CLI
can reach a running gateway (``gateway.admin_client``) without importing fastapi and the server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> module that defines it (loaded on first attribute access)
_LAZY: dict[str, str] = {
    "GatewayConfig": "llmops.gateway.config",
    "load_gateway_config": "llmops.gateway.config",
    "GatewayRuntime": "llmops.gateway.runtime",
    "GatewayServer": "llmops.gateway.server",
    "run": "llmops.gateway.server",
    "TraceRecord": "llmops.traces",
    "TraceStore": "llmops.traces",
}

__all__ = [
    "GatewayConfig",
    "GatewayRuntime",
    "GatewayServer",
    "TraceRecord",
    "TraceStore",
    "load_gateway_config",
    "run",
]

if TYPE_CHECKING:
    from llmops.gateway.config import GatewayConfig as GatewayConfig
    from llmops.gateway.config import load_gateway_config as load_gateway_config
    from llmops.gateway.runtime import GatewayRuntime as GatewayRuntime
    from llmops.gateway.server import GatewayServer as GatewayServer
    from llmops.gateway.server import run as run
    from llmops.traces import TraceRecord as TraceRecord
    from llmops.traces import TraceStore as TraceStore


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmops.gateway' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
