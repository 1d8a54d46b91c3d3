"""Eval targets: what answers the golden questions.

- ``inprocess``: retrieve with a RAG pipeline, render a registry prompt, call a provider
  (``extractive`` offline, or any registered kind) — no server needed.
- ``http``: a gateway route by URL, or any OpenAI-compatible endpoint; the gateway's lineage
  headers (``x-llmops-prompt``, ``x-llmops-index``, ``x-llmops-upstream``) and its cited contexts
  (``llmops.contexts`` or ``contexts`` in the response body) are recorded.

``prepare`` is synchronous (retrieval, rendering) and builds the cache material of the call;
``execute`` makes the call. Targets register like any plugin (``register_target``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from llmops.errors import ConfigError, LLMOpsError
from llmops.evals.golden import GoldenRecord
from llmops.evals.records import TargetOutput
from llmops.lineage import IndexLineage, Lineage, PromptLineage
from llmops.registry import Registry

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.evals.suite import TargetSpec

__all__ = [
    "AS_WRITTEN",
    "CheckedTarget",
    "HttpTarget",
    "InProcessTarget",
    "PreparedCall",
    "RetrievingTarget",
    "Target",
    "TARGETS",
    "Variant",
    "available_targets",
    "create_target",
    "register_target",
]


@dataclass(frozen=True)
class Variant:
    """A change to a record's call, for probes: another question, a suffix on the system
    message, the retrieved contexts in reverse order. ``AS_WRITTEN`` changes nothing."""

    question: str | None = None
    system_suffix: str | None = None
    reorder_contexts: bool = False


AS_WRITTEN = Variant()


@dataclass
class PreparedCall:
    """One target call, ready to execute; ``material`` is its cache identity."""

    question: str
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    contexts: list[dict[str, Any]] = field(default_factory=list)
    material: dict[str, Any] = field(default_factory=dict)
    lineage: Lineage = field(default_factory=Lineage)
    est_tokens: int = 0


class Target(Protocol):
    """Answers golden questions."""

    kind: str

    def prepare(
        self,
        record: GoldenRecord,
        variant: Variant = AS_WRITTEN,
    ) -> PreparedCall:
        """Retrieve and render; return the call to make."""
        ...

    async def execute(self, call: PreparedCall) -> dict[str, Any]:
        """Make the call; return ``{content, model, usage, ...}``; raise UpstreamError."""
        ...

    def output(self, call: PreparedCall, value: dict[str, Any], cached: bool) -> TargetOutput:
        """Turn a call's value into a TargetOutput."""
        ...

    async def aclose(self) -> None:
        """Release clients."""
        ...


@runtime_checkable
class CheckedTarget(Protocol):
    """A target that can fail early: a missing route or a dead endpoint, before any call."""

    def check(self) -> None:
        """Raise when the target cannot answer."""
        ...


@runtime_checkable
class RetrievingTarget(Protocol):
    """A target that retrieves from a served index itself (None: it does not retrieve)."""

    retriever: Any


def _estimate_tokens(
    messages: list[dict[str, Any]], contexts: list[dict[str, Any]], tokenizer: str
) -> int:
    # The embedding model's tokenizer (4 characters per token without one); for the
    # pre-flight, not billing: the served model's own tokenizer may count differently.
    from llmops.tokens import token_counter

    count = token_counter(tokenizer)
    tokens = sum(count(str(m.get("content") or "")) for m in messages if m.get("content"))
    tokens += sum(count(str(c.get("text") or "")) for c in contexts if c.get("text"))
    return tokens + 4 * len(messages)


def _with_system_suffix(messages: list[dict[str, Any]], suffix: str | None) -> list[dict[str, Any]]:
    if not suffix:
        return messages
    out = [dict(m) for m in messages]
    for message in out:
        if message.get("role") == "system":
            message["content"] = f"{message.get('content') or ''}\n\n{suffix}"
            return out
    return [{"role": "system", "content": suffix}, *out]


def _question_messages(record: GoldenRecord, question: str | None) -> list[dict[str, Any]]:
    if record.messages is not None and question is None:
        return [dict(m) for m in record.messages]
    return [{"role": "user", "content": question or record.question}]


class InProcessTarget:
    """Prompt + pipeline + provider, in this process."""

    kind = "inprocess"

    def __init__(self, spec: TargetSpec, settings: Settings) -> None:
        from llmops.providers import create_provider

        self.spec = spec
        self.settings = settings
        self.prompt = None
        if spec.prompt:
            from llmops.prompts import load_registry

            self.prompt = load_registry(settings).get(spec.prompt)
        self.retriever = None
        if spec.pipeline:
            from llmops.gateway.admin_client import retriever_for

            # Through the running gateway's admin API when one owns the embedded store.
            self.retriever = retriever_for(spec.pipeline, settings)
        self.provider = create_provider(spec.provider, **spec.provider_options)
        self.model = spec.model or spec.provider
        self._lock = (
            threading.Lock()
        )  # the embedded Qdrant client is used from one thread at a time

    def _retrieve(self, question: str) -> tuple[list[dict[str, Any]], IndexLineage | None]:
        if self.retriever is None:
            return [], None
        with self._lock:
            result = self.retriever.retrieve(question, k=self.spec.k)
        contexts = [
            {"id": str(c.id), "text": c.text, "source": c.source, "score": float(c.score)}
            for c in result.chunks
        ]
        return contexts, result.lineage

    def prepare(
        self,
        record: GoldenRecord,
        variant: Variant = AS_WRITTEN,
    ) -> PreparedCall:
        """Retrieve contexts, render the prompt, build the provider request."""
        asked = variant.question or record.question
        contexts, index = self._retrieve(asked)
        if variant.reorder_contexts:
            contexts = list(reversed(contexts))
        params = dict(self.spec.params)
        prompt_lineage: PromptLineage | None = None
        if self.prompt is not None:
            variables = {k: v for k, v in record.vars.items() if k != "paraphrases"}
            rendered = self.prompt.render(
                question=asked,
                contexts=[
                    {"id": c["id"], "text": c["text"], "source": c["source"]} for c in contexts
                ],
                **variables,
            )
            messages = [dict(m) for m in rendered.messages]
            params = {**dict(rendered.params or {}), **params}
            prompt_lineage = rendered.lineage
        else:
            messages = _question_messages(record, variant.question)
        messages = _with_system_suffix(messages, variant.system_suffix)
        request = {
            "model": self.model,
            "messages": messages,
            "contexts": contexts,
            "extra": {"question": asked},
            **{k: v for k, v in params.items() if v is not None},
        }
        material = {
            "target": "inprocess",
            "provider": self.spec.provider,
            "options": {k: v for k, v in self.spec.provider_options.items() if "key" not in k},
            "request": request,
        }
        lineage = Lineage(prompt=prompt_lineage, index=index, upstream=self.spec.provider)
        return PreparedCall(
            question=asked,
            messages=messages,
            params=params,
            contexts=contexts,
            material=material,
            lineage=lineage,
            est_tokens=_estimate_tokens(messages, contexts, self.settings.embedding.model),
        )

    async def execute(self, call: PreparedCall) -> dict[str, Any]:
        """Call the provider."""
        from llmops.providers import ChatRequest, Context

        request = ChatRequest(
            model=self.model,
            messages=call.messages,
            contexts=[Context(**c) for c in call.contexts],
            extra={"question": call.question},
            **{
                k: v
                for k, v in call.params.items()
                if k in ChatRequest.model_fields and v is not None
            },
        )
        result = await self.provider.complete(request)
        return {
            "content": result.content,
            "model": result.model,
            "usage": result.usage.model_dump(),
            "citations": list(result.citations),
        }

    def output(self, call: PreparedCall, value: dict[str, Any], cached: bool) -> TargetOutput:
        """Build the TargetOutput (the contexts are the retrieved ones)."""
        lineage = call.lineage.model_copy(update={"upstream_model": value.get("model")})
        return _reply_output(
            value,
            cached,
            lineage,
            contexts=call.contexts,
            citations=list(value.get("citations") or []),
        )

    async def aclose(self) -> None:
        """Close the provider."""
        await self.provider.aclose()


def _reply_output(
    value: dict[str, Any], cached: bool, lineage: Lineage, **more: Any
) -> TargetOutput:
    """Return the output of a reply (``execute``'s value): the answer, token usage, latency."""
    usage = value.get("usage") or {}
    return TargetOutput(
        answer=str(value.get("content") or ""),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        latency_ms=float(value.get("latency_ms") or 0.0),
        cached=cached,
        lineage=lineage,
        **more,
    )


def _parse_prompt_header(value: str | None) -> PromptLineage | None:
    # "name@version" optionally followed by "#hash"
    if not value or "@" not in value:
        return None
    ref, _, digest = value.partition("#")
    name, _, version = ref.partition("@")
    return PromptLineage(name=name, version=version, content_hash=digest)


def _parse_index_header(value: str | None) -> IndexLineage | None:
    # The gateway sends the index version ("bec7394c56d2"); "pipeline@version" is accepted too.
    if not value:
        return None
    ref, _, digest = value.partition("#")
    pipeline, at, version = ref.partition("@")
    if not at:
        pipeline, version = "", ref
    return IndexLineage(pipeline=pipeline, index_version=version, pipeline_hash=digest)


class HttpTarget:
    """A gateway route or any OpenAI-compatible endpoint."""

    kind = "http"

    def __init__(self, spec: TargetSpec, settings: Settings) -> None:
        from llmops.evals.openai_http import ChatEndpoint

        if not spec.url:
            raise ConfigError("an http target needs 'url'")
        self.spec = spec
        self.tokenizer = settings.embedding.model  # for token estimates
        self.model = spec.route or spec.model or "default"
        self.endpoint = ChatEndpoint(
            spec.url, api_key_env=spec.api_key_env, timeout=600.0, name="target"
        )

    def check(self) -> None:
        """Fail early when the endpoint does not answer or does not serve the route/model.

        Uses ``GET /models`` (an OpenAI-compatible listing); endpoints without it are not checked.
        """
        import httpx

        from llmops.errors import NotFoundError, UsageError

        url = self.endpoint.base_url + "/models"
        try:
            response = httpx.get(
                url, headers={"authorization": f"Bearer {self.endpoint.api_key()}"}, timeout=10
            )
        except httpx.HTTPError as exc:
            raise UsageError(
                f"cannot reach the target at {self.endpoint.base_url}: {exc}",
                hint="start the gateway/endpoint or fix target.url",
            ) from None
        if response.status_code != 200:
            return
        try:
            served = [str(m.get("id")) for m in response.json().get("data", [])]
        except (ValueError, AttributeError):
            return
        if served and self.model not in served:
            raise NotFoundError(
                f"the target at {self.endpoint.base_url} does not serve '{self.model}'",
                hint=f"served: {', '.join(served[:20])}",
            )

    def prepare(
        self,
        record: GoldenRecord,
        variant: Variant = AS_WRITTEN,
    ) -> PreparedCall:
        """Build the chat request; the server does retrieval and rendering."""
        if variant.reorder_contexts:
            raise LLMOpsError("an http target retrieves server-side: contexts cannot be reordered")
        messages = _with_system_suffix(
            _question_messages(record, variant.question), variant.system_suffix
        )
        params = {k: v for k, v in self.spec.params.items() if v is not None}
        material = {
            "target": "http",
            "url": self.endpoint.base_url,
            "model": self.model,
            "messages": messages,
            "params": params,
        }
        return PreparedCall(
            question=variant.question or record.question,
            messages=messages,
            params=params,
            material=material,
            lineage=Lineage(upstream=self.endpoint.base_url),
            est_tokens=_estimate_tokens(messages, [], self.tokenizer),
        )

    async def execute(self, call: PreparedCall) -> dict[str, Any]:
        """POST /chat/completions."""
        return await self.endpoint.chat(self.model, call.messages, call.params)

    def output(self, call: PreparedCall, value: dict[str, Any], cached: bool) -> TargetOutput:
        """Build the TargetOutput, with the gateway's lineage headers and cited contexts."""
        headers = value.get("headers") or {}
        extra = value.get("extra") or {}
        contexts = extra.get("contexts")
        if contexts is None and isinstance(extra.get("llmops"), dict):
            contexts = extra["llmops"].get("contexts")
        lineage = Lineage(
            prompt=_parse_prompt_header(headers.get("x-llmops-prompt")),
            index=_parse_index_header(headers.get("x-llmops-index")),
            upstream=headers.get("x-llmops-upstream")
            or headers.get("x-llmops-route")
            or call.lineage.upstream,
            upstream_model=value.get("model"),
        )
        contexts = [dict(c) for c in contexts or [] if isinstance(c, dict)]
        return _reply_output(value, cached, lineage, contexts=contexts)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.endpoint.aclose()


def _recorded(spec: TargetSpec, settings: Settings) -> Target:
    from llmops.evals.recorded import RecordedTarget  # stored answers, for judging the judge

    return RecordedTarget(spec, settings)


TargetFactory = Callable[["TargetSpec", "Settings"], Target]
#: Eval target kinds (``target.type`` in a suite).
TARGETS: Registry[TargetFactory] = Registry("target type", key="target.type")
TARGETS.register("inprocess", InProcessTarget)
TARGETS.register("http", HttpTarget)
TARGETS.register("recorded", _recorded)


def register_target(kind: str, factory: TargetFactory) -> None:
    """Register a target kind."""
    TARGETS.register(kind, factory)


def available_targets() -> list[str]:
    """Return the registered target kinds."""
    return TARGETS.names()


def create_target(spec: TargetSpec, settings: Settings) -> Target:
    """Create the target a suite describes; an unknown type gets a did-you-mean."""
    return TARGETS.get(spec.type)(spec, settings)
