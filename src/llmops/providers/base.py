"""The provider contract: anything that answers OpenAI-style chat requests.

Providers are small classes registered under a short id (``openai``, ``vllm``, ``extractive``);
the gateway, the eval runner and the judge all reach models through them. A provider answers a
``ChatRequest`` (optionally with retrieved contexts, which RAG-aware providers such as the
offline extractive model use directly) with a ``ChatResult`` or a stream of ``ChatDelta``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmops.errors import ConfigError
from llmops.registry import Registry

__all__ = [
    "PROVIDERS",
    "ChatDelta",
    "ChatRequest",
    "ChatResult",
    "Choice",
    "Context",
    "Provider",
    "ProviderFactory",
    "Usage",
    "available_providers",
    "create_provider",
    "message_text",
    "parse_options",
    "register_provider",
]


def message_text(message: dict[str, Any], sep: str = "\n") -> str:
    """Return the text of an OpenAI-style message (string content, or its text parts joined)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return sep.join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


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
    n: int | None = Field(None, ge=1, description="choices to generate (1 when unset)")
    response_format: dict[str, Any] | None = None
    seed: int | None = None
    user: str | None = None
    stream: bool = False
    extra: dict[str, Any] = Field(default_factory=dict, description="passed through verbatim")
    contexts: list[Context] | None = None

    @model_validator(mode="before")
    @classmethod
    def _lift_known_extras(cls, data: Any) -> Any:
        # Callers that forward a client's parameters wholesale put them in ``extra``; the ones
        # this model names (n, stop, max_tokens, ...) are lifted so providers read one place.
        if not isinstance(data, dict) or not isinstance(data.get("extra"), dict):
            return data
        extra = dict(data["extra"])
        lifted = dict(data)
        for name in _LIFTED:
            if name in extra:
                value = extra.pop(name)
                if lifted.get(name) is None:
                    lifted[name] = [value] if name == "stop" and isinstance(value, str) else value
        lifted["extra"] = extra
        return lifted


class Usage(BaseModel):
    """Token counts as OpenAI reports them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Return prompt + completion tokens."""
        return self.prompt_tokens + self.completion_tokens


class Choice(BaseModel):
    """One of several answers to a request with ``n > 1``."""

    index: int = 0
    content: str = ""
    finish_reason: str = "stop"


class ChatResult(BaseModel):
    """A whole answer: ``content``/``finish_reason`` are the first choice's; ``choices`` lists
    every choice when there are several (``n > 1``), else it is empty."""

    content: str
    model: str
    finish_reason: str = "stop"
    usage: Usage = Field(default_factory=Usage)
    citations: list[str] = Field(default_factory=list, description="ids of cited contexts")
    choices: list[Choice] = Field(default_factory=list, description="all choices when n > 1")
    raw: dict[str, Any] | None = Field(None, description="the upstream's JSON, when there is one")
    headers: dict[str, str] = Field(
        default_factory=dict, description="the upstream's response headers (lower-cased)"
    )

    def all_choices(self) -> list[Choice]:
        """Return every choice (the single answer as choice 0 when ``choices`` is empty)."""
        return self.choices or [Choice(content=self.content, finish_reason=self.finish_reason)]


class ChatDelta(BaseModel):
    """One streamed piece of an answer; the last one carries finish_reason and usage.

    ``index`` says which choice the piece belongs to (0 unless ``n > 1``); with several
    choices each one ends with its own ``finish_reason``, and ``usage`` comes once, last."""

    content: str = ""
    index: int = 0
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


_LIFTED = ("n", "stop", "max_tokens", "temperature", "top_p", "seed", "user", "response_format")

ProviderFactory = Callable[..., Provider]
OptionsT = TypeVar("OptionsT", bound=BaseModel)
#: Provider kinds: built-ins (imported on first use) and the ``llmops.providers`` entry points,
#: each naming a factory ``(**options) -> Provider``.
PROVIDERS: Registry[ProviderFactory] = Registry(
    "provider kind",
    group="llmops.providers",
    builtins={
        "openai": "llmops.providers.openai_compat:create",
        "vllm": "llmops.providers.openai_compat:create",
        "extractive": "llmops.providers.extractive:create",
    },
)


def parse_options(model: type[OptionsT], options: dict[str, Any], what: str) -> OptionsT:
    """Validate a provider's options into ``model``; bad keys get a did-you-mean ConfigError."""
    from pydantic import ValidationError

    from llmops.suggest import did_you_mean

    try:
        return model(**options)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        known = list(model.model_fields)
        guess = did_you_mean(key, known) if first["type"] == "extra_forbidden" else None
        raise ConfigError(
            f"{what} option '{key}': {first['msg']}"
            + (f" (did you mean '{guess}'?)" if guess else ""),
            key=key,
            hint=f"known options: {', '.join(known)}",
        ) from None


def register_provider(kind: str, factory: ProviderFactory) -> None:
    """Register a provider kind; built-ins register exactly like plugins would."""
    PROVIDERS.register(kind, factory)


def available_providers() -> list[str]:
    """Return the registered provider kinds."""
    return PROVIDERS.names()


def create_provider(kind: str, **options: Any) -> Provider:
    """Create a provider of ``kind`` with its options (base_url, model, api_key_env, ...)."""
    return PROVIDERS.get(kind)(**options)
