"""OpenAI response shapes for answers the gateway relays after guarding or builds itself.

Managed routes work on chat-format choices (what upstreams and providers give); these helpers
relabel them with the route's name and request id and, for ``/v1/completions``, reshape them
into text-completion choices. Fields the gateway does not own (``tool_calls``, ``logprobs``,
extra choices, ``system_fingerprint``...) pass through unchanged.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import orjson

__all__ = [
    "DONE",
    "Shape",
    "chunk_body",
    "completion_body",
    "response_id",
    "sse",
    "usage_body",
]

Shape = Literal["chat", "text"]
DONE = b"data: [DONE]\n\n"

#: Top-level fields the gateway sets itself on a relayed answer.
_OWN = frozenset({"id", "object", "created", "model", "choices", "usage"})


def sse(payload: dict[str, Any]) -> bytes:
    """Return one server-sent event."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def response_id(shape: Shape, request_id: str) -> str:
    """Return the answer id the gateway gives a request."""
    return f"{'chatcmpl' if shape == 'chat' else 'cmpl'}-{request_id}"


def usage_body(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """Return an OpenAI ``usage`` object."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _text_choice(choice: dict[str, Any], key: str) -> dict[str, Any]:
    part = choice.get(key)
    content = part.get("content") if isinstance(part, dict) else None
    return {
        "index": choice.get("index", 0),
        "text": content if isinstance(content, str) else "",
        "finish_reason": choice.get("finish_reason"),
        "logprobs": None,  # chat logprobs do not translate to text-completion logprobs
    }


def completion_body(
    shape: Shape,
    *,
    request_id: str,
    model: str,
    choices: list[dict[str, Any]],
    usage: tuple[int, int],
    upstream: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a whole ``chat.completion`` or ``text_completion`` object.

    ``choices`` are chat choices; ``upstream`` is the upstream's answer, whose fields the
    gateway does not own are kept.
    """
    body: dict[str, Any] = {
        "id": response_id(shape, request_id),
        "object": "chat.completion" if shape == "chat" else "text_completion",
        "created": int(time.time()),
        "model": model,
    }
    if upstream:
        body.update((k, v) for k, v in upstream.items() if k not in _OWN)
    if shape == "chat":
        body["choices"] = [{"logprobs": None, **c} for c in choices]
    else:
        body["choices"] = [_text_choice(c, "message") for c in choices]
    body["usage"] = usage_body(*usage)
    return body


def chunk_body(
    shape: Shape, chunk: dict[str, Any], *, request_id: str, model: str, created: int
) -> dict[str, Any]:
    """Return an upstream chat chunk relabelled for the client (and reshaped for text)."""
    out = {k: v for k, v in chunk.items() if k not in _OWN}
    out["id"] = response_id(shape, request_id)
    out["object"] = "chat.completion.chunk" if shape == "chat" else "text_completion"
    out["created"] = created
    out["model"] = model
    choices = chunk.get("choices") or []
    if shape == "chat":
        out["choices"] = choices
    else:
        out["choices"] = [_text_choice(c, "delta") for c in choices]
    if chunk.get("usage") is not None:
        out["usage"] = chunk["usage"]
    return out
