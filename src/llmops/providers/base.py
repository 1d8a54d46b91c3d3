"""The provider contract: anything that answers OpenAI-style chat requests.

Providers are small classes registered under a short id (``openai``, ``vllm``, ``extractive``);
the gateway, the eval runner and the judge all reach models through them. A provider answers a
``ChatRequest`` (optionally with retrieved contexts, which RAG-aware providers such as the
offline extractive model use directly) with a ``ChatResult`` or a stream of ``ChatDelta``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from llmops.errors import ConfigError

__all__ = [
    "ChatDelta",
    "ChatRequest",
    "ChatResult",
    "Context",
    "Provider",
    "ProviderFactory",
    "Usage",
    "available_providers",
    "create_provider",
    "register_provider",
]


class Context(BaseModel):
    """A retrieved passage handed to a provider (the gateway fills these from the retriever)."""

    model_config = ConfigDict(extra="allow")

    id: str
    text: str
    score: float | None = None
    source: str | None = None
    title: str | None = None


class ChatRequest(BaseModel):
    """An OpenAI-style chat request after routing and prompt rendering."""

    model_config = ConfigDict(extra="forbid")

    model: str
    messages: list[dict[str, Any]]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    response_format: dict[str, Any] | None = None
    seed: int | None = None
    user: str | None = None
    stream: bool = False
    extra: dict[str, Any] = Field(default_factory=dict, description="passed through verbatim")
    contexts: list[Context] | None = None


class Usage(BaseModel):
    """Token counts as OpenAI reports them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Return prompt + completion tokens."""
        return self.prompt_tokens + self.completion_tokens


class ChatResult(BaseModel):
    """A whole answer."""

    content: str
    model: str
    finish_reason: str = "stop"
    usage: Usage = Field(default_factory=Usage)
    citations: list[str] = Field(default_factory=list, description="ids of cited contexts")
    raw: dict[str, Any] | None = Field(None, description="the upstream's JSON, when there is one")


class ChatDelta(BaseModel):
    """One streamed piece of an answer; the last one carries finish_reason and usage."""

    content: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None


@runtime_checkable
class Provider(Protocol):
    """Answers chat requests."""

    id: str

    async def complete(self, request: ChatRequest) -> ChatResult:
        """Return the whole answer; raise UpstreamError on failure."""
        ...

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        """Yield the answer in pieces; raise UpstreamError on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


ProviderFactory = Callable[..., Provider]
_REGISTRY: dict[str, ProviderFactory] = {}


def register_provider(kind: str, factory: ProviderFactory) -> None:
    """Register a provider kind; built-ins register exactly like plugins would."""
    _REGISTRY[kind] = factory


def available_providers() -> list[str]:
    """Return the registered provider kinds."""
    _load_builtins()
    return sorted(_REGISTRY)


def create_provider(kind: str, **options: Any) -> Provider:
    """Create a provider of ``kind`` with its options (base_url, model, api_key_env, ...)."""
    _load_builtins()
    factory = _REGISTRY.get(kind)
    if factory is None:
        from llmops.files import did_you_mean

        guess = did_you_mean(kind, list(_REGISTRY))
        raise ConfigError(
            f"unknown provider kind '{kind}'" + (f" (did you mean '{guess}'?)" if guess else ""),
            hint=f"known kinds: {', '.join(sorted(_REGISTRY))}",
        )
    return factory(**options)


def _load_builtins() -> None:
    # Importing the built-in modules registers them; kept lazy so nothing heavy loads at import.
    import importlib

    for module in ("llmops.providers.openai_compat", "llmops.providers.extractive"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
