"""The OpenAI-compatible gateway: routes, prompts, RAG, upstream pools, release strategies,
security and observability in front of vLLM or any OpenAI-compatible server.

Importing the package is cheap: the public names load their modules on first use, so the CLI
can reach a running gateway (``gateway.admin_client``) without importing fastapi and the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmops.lazy import lazy_names as _lazy_names

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

if TYPE_CHECKING:  # the names re-exported in __all__, for type checkers
    from llmops.gateway.config import GatewayConfig, load_gateway_config
    from llmops.gateway.runtime import GatewayRuntime
    from llmops.gateway.server import GatewayServer, run
    from llmops.traces import TraceRecord, TraceStore


__getattr__ = _lazy_names(__name__, _LAZY, globals())
