"""Managed upstream calls: one interface over HTTP pools and provider pools, with fallback.

The passthrough hot path forwards raw bytes (``passthrough.py``); routes that render a prompt,
retrieve, guard or shape the answer go through here and get ``ChatResult``/``ChatDelta``,
parsed by the provider layer's OpenAI wire functions (``providers.openai_wire``), the same
ones the ``openai`` provider uses.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from llmops.gateway.error_map import upstream_error
from llmops.gateway.responses import ApiError, bad_upstream
from llmops.providers.base import ChatDelta, ChatRequest, ChatResult, Context
from llmops.providers.openai_wire import WireError, parse_completion, sse_payloads

if TYPE_CHECKING:
    from llmops.gateway.upstream import Pool, UpstreamCall

__all__ = [
    "ManagedCall",
    "chunk_usage",
    "client_params",
    "complete",
    "provider_chunk",
    "stream",
    "upstream_error",
]

#: Request fields the gateway sets itself on managed calls.
_OWN_FIELDS = frozenset({"model", "messages", "prompt", "stream", "stream_options", "llmops"})


@dataclass(slots=True)
class ManagedCall:
    """What to send: the rendered messages plus the client's sampling parameters."""

    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    contexts: list[Context]
    question: str
    request_id: str
    replica: str | None = None

    def body(self, stream: bool) -> bytes:
        """Return the JSON body for an OpenAI-compatible upstream."""
        data = dict(self.params)
        data["model"] = self.model
        data["messages"] = self.messages
        if stream:
            data["stream"] = True
            data["stream_options"] = {"include_usage": True}
        return orjson.dumps(data)

    def chat_request(self, stream: bool) -> ChatRequest:
        """Return the provider request (contexts included for RAG-aware providers)."""
        known = {"temperature", "top_p", "max_tokens", "seed", "user", "response_format"}
        fields = {k: v for k, v in self.params.items() if k in known}
        stop = self.params.get("stop")
        extra = {k: v for k, v in self.params.items() if k not in known and k != "stop"}
        extra["question"] = self.question
        return ChatRequest(
            model=self.model,
            messages=self.messages,
            stop=[stop] if isinstance(stop, str) else stop,
            stream=stream,
            extra=extra,
            contexts=self.contexts or None,
            **fields,
        )


def client_params(data: dict[str, Any]) -> dict[str, Any]:
    """Return the client's fields that are forwarded on managed calls."""
    return {k: v for k, v in data.items() if k not in _OWN_FIELDS}


async def _http_call(pool: Pool, call: ManagedCall, stream: bool) -> UpstreamCall:
    up = await pool.post("/chat/completions", call.body(stream), request_id=call.request_id)
    call.replica = up.replica.name
    if up.response.status >= 400:
        raw = await up.response.read()
        up.release()
        raise _client_error(up.response.status, raw)
    return up


def _client_error(status: int, raw: bytes) -> ApiError:
    message = raw[:500].decode("utf-8", "replace")
    code = None
    try:
        data = orjson.loads(raw)
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            message = str(data["error"].get("message", message))
            code = data["error"].get("code")
    except orjson.JSONDecodeError:
        pass
    return ApiError(
        status,
        f"upstream rejected the request: {message}",
        code=str(code) if code else "upstream_rejected",
    )


async def complete(pool: Pool, call: ManagedCall) -> ChatResult:
    """Return the whole answer from ``pool``."""
    if pool.provider is not None:
        return await pool.provider.complete(call.chat_request(False))
    up = await _http_call(pool, call, False)
    raw = await up.body()
    try:
        return parse_completion(raw, model=call.model)
    except WireError:
        raise bad_upstream(raw[:120].decode("utf-8", "replace")) from None


async def stream(pool: Pool, call: ManagedCall) -> AsyncGenerator[dict[str, Any], None]:
    """Yield the answer from ``pool`` as chat chunks (the first upstream call happens on next).

    HTTP upstreams' chunks come through as sent (tool calls, logprobs, every choice); provider
    pools' pieces are turned into the same shape.
    """
    if pool.provider is not None:
        started: set[int] = set()  # each choice's first chunk carries the role
        async for delta in pool.provider.stream(call.chat_request(True)):
            yield provider_chunk(delta, delta.index not in started)
            started.add(delta.index)
        return
    up = await _http_call(pool, call, True)
    try:
        ctype = up.response.headers.get("content-type", "")
        if "text/event-stream" not in ctype:
            raw = await up.response.read()
            raise bad_upstream(
                f"expected an event stream, got {ctype or 'no content type'}: "
                f"{raw[:120].decode('utf-8', 'replace')}"
            )
        done = False
        async for payload in sse_payloads(up.response.iter_chunks()):
            if payload == b"[DONE]":
                done = True
                continue
            yield _chunk(payload)
        if not done:
            raise bad_upstream("the stream ended before [DONE]")
    except ApiError:
        raise
    except Exception as exc:  # a broken stream must reach the client as an error event
        raise bad_upstream(f"the stream broke: {type(exc).__name__}") from None
    finally:
        up.release()


def provider_chunk(delta: ChatDelta, first: bool) -> dict[str, Any]:
    """Return a provider's stream piece as an OpenAI chat chunk."""
    body: dict[str, Any] = {"content": delta.content}
    if first:
        body["role"] = "assistant"
    chunk: dict[str, Any] = {
        "choices": [
            {
                "index": delta.index,
                "delta": body,
                "finish_reason": delta.finish_reason,
                "logprobs": None,
            }
        ]
    }
    if delta.usage is not None:
        chunk["usage"] = {
            "prompt_tokens": delta.usage.prompt_tokens,
            "completion_tokens": delta.usage.completion_tokens,
            "total_tokens": delta.usage.prompt_tokens + delta.usage.completion_tokens,
        }
    return chunk


def chunk_usage(chunk: dict[str, Any]) -> tuple[int, int] | None:
    """Return (prompt, completion) tokens when ``chunk`` carries usage."""
    usage = chunk.get("usage")
    if not isinstance(usage, dict):
        return None
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


def _chunk(payload: bytes) -> dict[str, Any]:
    try:
        chunk = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise bad_upstream(payload[:120].decode("utf-8", "replace")) from None
    if not isinstance(chunk, dict):
        raise bad_upstream("a chunk is not an object")
    if isinstance(chunk.get("error"), dict):
        raise ApiError(
            502,
            f"upstream failed mid-stream: {chunk['error'].get('message')}",
            code="upstream_error",
            type_="api_error",
        )
    choices = chunk.get("choices")
    if choices is not None and not (
        isinstance(choices, list) and all(isinstance(c, dict) for c in choices)
    ):
        raise bad_upstream("a chunk's choices are not a list of objects")
    return chunk
