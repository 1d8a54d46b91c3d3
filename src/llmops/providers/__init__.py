"""Model providers: the OpenAI-compatible HTTP upstream (vLLM, OpenAI, ...) and the offline
extractive model, behind one small Protocol and a registry."""

from llmops.providers.base import (
    ChatDelta,
    ChatRequest,
    ChatResult,
    Choice,
    Context,
    Provider,
    Usage,
    available_providers,
    create_provider,
    register_provider,
)

__all__ = [
    "ChatDelta",
    "ChatRequest",
    "ChatResult",
    "Choice",
    "Context",
    "Provider",
    "Usage",
    "available_providers",
    "create_provider",
    "register_provider",
]
