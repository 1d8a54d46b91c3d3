"""OpenAI response shapes for answers the gateway builds itself (provider pools, RAG extras)."""

from __future__ import annotations

import time
from typing import Any, Literal

import orjson

__all__ = ["Shape", "chunk_bytes", "completion_body", "sse", "DONE"]

Shape = Literal["chat", "text"]
DONE = b"data: [DONE]\n\n"


def sse(payload: dict[str, Any]) -> bytes:
    """Return one server-sent event."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion_body(
    shape: Shape,
    *,
    request_id: str,
    model: str,
    content: str,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
    extra: dict[str, Any] | None = None,
    more: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Return a whole chat.completion or text_completion object (``more``: the content and
    finish reason of choices 1..n-1 when the client asked for ``n > 1``)."""
    choices: list[dict[str, Any]] = []
    for index, (text, finish) in enumerate([(content, finish_reason), *(more or [])]):
        if shape == "chat":
            choices.append(
                {
                    "index": index,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                    "logprobs": None,
                }
            )
        else:
            choices.append(
                {"index": index, "text": text, "finish_reason": finish, "logprobs": None}
            )
    obj = "chat.completion" if shape == "chat" else "text_completion"
    body: dict[str, Any] = {
        "id": f"{'chatcmpl' if shape == 'chat' else 'cmpl'}-{request_id}",
        "object": obj,
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": _usage(prompt_tokens, completion_tokens),
    }
    if extra:
        body.update(extra)
    return body


def chunk_bytes(
    shape: Shape,
    *,
    request_id: str,
    model: str,
    created: int,
    content: str | None = None,
    role: bool = False,
    finish_reason: str | None = None,
    usage: tuple[int, int] | None = None,
    extra: dict[str, Any] | None = None,
    index: int = 0,
) -> bytes:
    """Return one streamed chunk as an SSE event (``index``: the choice, when ``n > 1``)."""
    choices: list[dict[str, Any]] = []
    if content is not None or role or finish_reason is not None:
        if shape == "chat":
            delta: dict[str, Any] = {}
            if role:
                delta["role"] = "assistant"
            if content is not None:
                delta["content"] = content
            choices.append(
                {"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
            )
        else:
            choices.append(
                {
                    "index": index,
                    "text": content or "",
                    "finish_reason": finish_reason,
                    "logprobs": None,
                }
            )
    payload: dict[str, Any] = {
        "id": f"{'chatcmpl' if shape == 'chat' else 'cmpl'}-{request_id}",
        "object": "chat.completion.chunk" if shape == "chat" else "text_completion",
        "created": created,
        "model": model,
        "choices": choices,
    }
    if usage is not None:
        payload["usage"] = _usage(*usage)
    if extra:
        payload.update(extra)
    return sse(payload)
