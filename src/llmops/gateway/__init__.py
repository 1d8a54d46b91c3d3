"""The OpenAI-compatible gateway: routes, prompts, RAG, upstream pools, release strategies,
security and observability in front of vLLM or any OpenAI-compatible server."""

from llmops.gateway.config import GatewayConfig, load_gateway_config
from llmops.gateway.runtime import GatewayRuntime
from llmops.gateway.server import GatewayServer, run
from llmops.traces import TraceRecord, TraceStore

__all__ = [
    "GatewayConfig",
    "GatewayRuntime",
    "GatewayServer",
    "TraceRecord",
    "TraceStore",
    "load_gateway_config",
    "run",
]
