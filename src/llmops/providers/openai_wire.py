"""The OpenAI chat wire format, both ways: request bodies, completion bodies, SSE streams.

Pure functions over bytes, shared by everything that speaks OpenAI to a model server (the
``openai`` provider; the gateway's managed routes parse the same shapes). Malformed input
raises ``WireError`` with a short description; callers turn it into their own 502.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from llmops.providers.base import ChatDelta, ChatRequest, ChatResult, Choice, Usage

__all__ = ["WireError", "parse_chunk", "parse_completion", "request_body", "sse_payloads"]

#: ChatRequest fields sent as they are when set.
_SENT = ("temperature", "top_p", "max_tokens", "stop", "n", "response_format", "seed", "user")


class WireError(ValueError):
    """The upstream sent something that is not the OpenAI format, or (``in_band``) an error
    event in the middle of a stream."""

    def __init__(self, message: str, *, in_band: bool = False) -> None:
        super().__init__(message)
        self.in_band = in_band


def request_body(request: ChatRequest, model: str, *, stream: bool) -> bytes:
    """Return the JSON body of a ``/chat/completions`` request for ``model``."""
    data: dict[str, Any] = {"model": model, "messages": request.messages}
    for name in _SENT:
        value = getattr(request, name)
        if value is not None:
            data[name] = value
    data.update({k: v for k, v in request.extra.items() if k != "question"})
    if stream:
        data["stream"] = True
        data["stream_options"] = {"include_usage": True}
    return orjson.dumps(data)


def _usage(value: Any) -> Usage | None:
    if not isinstance(value, dict):
        return None
    return Usage(
        prompt_tokens=int(value.get("prompt_tokens") or 0),
        completion_tokens=int(value.get("completion_tokens") or 0),
    )


def parse_completion(raw: bytes, *, model: str) -> ChatResult:
    """Return the ChatResult of a ``chat.completion`` body (every choice when there are several)."""
    try:
        data = orjson.loads(raw)
        choices = [
            Choice(
                index=int(c.get("index", i)),
                content=(c["message"].get("content") or ""),
                finish_reason=c.get("finish_reason") or "stop",
            )
            for i, c in enumerate(data["choices"])
        ]
        first = choices[0]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError, ValueError):
        raise WireError(f"invalid response: {raw[:200].decode('utf-8', 'replace')}") from None
    return ChatResult(
        content=first.content,
        model=str(data.get("model") or model),
        finish_reason=first.finish_reason,
        usage=_usage(data.get("usage")) or Usage(),
        choices=choices if len(choices) > 1 else [],
        raw=data,
    )


async def sse_payloads(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Yield the ``data:`` payload of every server-sent event (``b"[DONE]"`` included)."""
    buffer = b""
    async for piece in chunks:
        buffer += piece
        while True:
            # Events end with a blank line; servers use \n\n or \r\n\r\n.
            cut = buffer.find(b"\n\n")
            cut_crlf = buffer.find(b"\r\n\r\n")
            if cut < 0 and cut_crlf < 0:
                break
            if cut_crlf >= 0 and (cut < 0 or cut_crlf < cut):
                event, buffer = buffer[:cut_crlf], buffer[cut_crlf + 4 :]
            else:
                event, buffer = buffer[:cut], buffer[cut + 2 :]
            for line in event.splitlines():
                if line.startswith(b"data:"):
                    yield line[5:].strip()


def parse_chunk(payload: bytes) -> list[ChatDelta]:
    """Return the deltas of one ``chat.completion.chunk`` (one per choice; usage separately)."""
    try:
        chunk = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise WireError(
            f"invalid stream chunk: {payload[:120].decode('utf-8', 'replace')}"
        ) from None
    if not isinstance(chunk, dict):
        raise WireError("a stream chunk is not an object")
    if isinstance(chunk.get("error"), dict):
        raise WireError(
            f"upstream failed mid-stream: {chunk['error'].get('message')}", in_band=True
        )
    out: list[ChatDelta] = []
    for i, choice in enumerate(chunk.get("choices") or ()):
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta") or {}
        text = delta.get("content") if isinstance(delta, dict) else None
        finish = choice.get("finish_reason")
        if isinstance(text, str) and text or finish:
            out.append(
                ChatDelta(
                    content=text if isinstance(text, str) else "",
                    index=int(choice.get("index", i)),
                    finish_reason=finish or None,
                )
            )
    usage = _usage(chunk.get("usage"))
    if usage is not None:
        out.append(ChatDelta(usage=usage))
    return out
