"""Scripted replies and the OpenAI wire format the scripted server speaks.

A ``Reply`` says what the next request gets: text, an HTTP error, a delay, garbage bytes, a
stream that breaks half-way. The functions below turn a reply into the exact JSON bodies and
SSE chunks OpenAI sends, so clients (the ``openai`` SDK, the gateway) parse them unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
import time
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Reply",
    "Turn",
    "chat_body",
    "chat_chunks",
    "completion_body",
    "completion_chunks",
    "count_words",
    "embedding_vector",
    "embeddings_body",
    "error_body",
    "split_content",
]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


@dataclass(frozen=True)
class Reply:
    """What the scripted server answers to one request.

    ``delay`` waits before the response starts (on top of the server's ``latency``);
    ``chunk_delay`` waits between streamed chunks; ``retry_after`` adds ``Retry-After`` (seconds);
    ``raw_body`` sends these bytes verbatim instead of JSON (to test garbage handling);
    ``close_mid_stream`` sends half the answer then closes the connection; ``usage`` overrides
    the word-count token usage; ``model`` overrides the echoed model name; ``error`` replaces the
    ``error`` object of a non-2xx reply.
    """

    content: str = "ok"
    status: int = 200
    delay: float = 0.0
    chunk_delay: float = 0.0
    retry_after: float | None = None
    raw_body: bytes | None = None
    close_mid_stream: bool = False
    usage: dict[str, Any] | None = None
    model: str | None = None
    error: dict[str, Any] | None = None


def dumps(obj: Any) -> bytes:
    """Serialise compactly, as OpenAI does."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def count_words(value: Any) -> int:
    """Count whitespace-separated words in a string or a nested message structure."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(count_words(v) for v in value)
    if isinstance(value, dict):
        return sum(count_words(v) for k, v in value.items() if k in ("content", "text"))
    return 0


def split_content(content: str, chunks: int | None) -> list[str]:
    """Split text into stream pieces: one per word, or ``chunks`` near-equal pieces."""
    if not content:
        return []
    if chunks is None:
        words = content.split(" ")
        return [w + " " for w in words[:-1]] + [words[-1]] if len(words) > 1 else [content]
    n = max(1, min(chunks, len(content)))
    step = math.ceil(len(content) / n)
    return [content[i : i + step] for i in range(0, len(content), step)]


def _usage(reply: Reply, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    if reply.usage is not None:
        usage = dict(reply.usage)
        parts = (usage.get("prompt_tokens"), usage.get("completion_tokens"))
        if "total_tokens" not in usage and all(isinstance(p, int) for p in parts):
            usage["total_tokens"] = sum(p for p in parts if isinstance(p, int))
        return usage
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


@dataclass(frozen=True)
class Turn:
    """One answer being built: the scripted reply, its ids, and what the request asked for."""

    reply: Reply
    rid: str
    model: str
    prompt_tokens: int
    include_usage: bool = False

    def usage(self, completion_tokens: int) -> dict[str, Any]:
        """Return the ``usage`` object (the reply's override, or word counts)."""
        return _usage(self.reply, self.prompt_tokens, completion_tokens)


def _head(turn: Turn, kind: str) -> dict[str, Any]:
    return {"id": turn.rid, "object": kind, "created": int(time.time()), "model": turn.model}


def chat_body(turn: Turn, content: str, finish: str) -> dict[str, Any]:
    """Return a non-streamed ``chat.completion`` object."""
    return {
        **_head(turn, "chat.completion"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": turn.usage(count_words(content)),
        "system_fingerprint": None,
    }


def chat_chunks(turn: Turn, pieces: list[str], finish: str) -> list[dict[str, Any]]:
    """Return the ``chat.completion.chunk`` objects of a streamed answer, in order."""
    base = {**_head(turn, "chat.completion.chunk"), "system_fingerprint": None}

    def chunk(delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**base, "choices": [choice]}

    out = [chunk({"role": "assistant", "content": ""}, None)]
    out += [chunk({"content": p}, None) for p in pieces]
    out.append(chunk({}, finish))
    return _with_usage(turn, base, out, pieces)


def completion_body(turn: Turn, text: str, finish: str) -> dict[str, Any]:
    """Return a non-streamed legacy ``text_completion`` object."""
    return {
        **_head(turn, "text_completion"),
        "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
        "usage": turn.usage(count_words(text)),
    }


def completion_chunks(turn: Turn, pieces: list[str], finish: str) -> list[dict[str, Any]]:
    """Return the streamed ``text_completion`` objects, in order."""
    base = _head(turn, "text_completion")
    out: list[dict[str, Any]] = []
    for i, piece in enumerate(pieces or [""]):
        last = i == max(len(pieces), 1) - 1
        choice = {
            "text": piece,
            "index": 0,
            "logprobs": None,
            "finish_reason": finish if last else None,
        }
        out.append({**base, "choices": [choice]})
    return _with_usage(turn, base, out, pieces)


def _with_usage(
    turn: Turn, base: dict[str, Any], chunks: list[dict[str, Any]], pieces: list[str]
) -> list[dict[str, Any]]:
    """With ``include_usage``: ``usage: null`` on every chunk, then a usage-only last chunk."""
    if not turn.include_usage:
        return chunks
    for item in chunks:
        item["usage"] = None
    chunks.append({**base, "choices": [], "usage": turn.usage(count_words("".join(pieces)))})
    return chunks


def error_body(reply: Reply) -> dict[str, Any]:
    """Return OpenAI's error JSON for a non-2xx reply."""
    if reply.error is not None:
        return {"error": reply.error}
    status = reply.status
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    message = reply.content if reply.content != "ok" else f"scripted error (HTTP {status})"
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def embedding_vector(text: str, dim: int) -> list[float]:
    """Return a deterministic unit vector for ``text`` (same text, same vector)."""
    raw = b""
    counter = 0
    while len(raw) < dim * 4:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    values = [(int.from_bytes(raw[i * 4 : i * 4 + 4], "little") / 2**31) - 1.0 for i in range(dim)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def embeddings_body(request: dict[str, Any], model: str, dim: int) -> dict[str, Any]:
    """Return an embeddings list for ``request['input']`` (str, list of str, or token ids)."""
    raw_input = request.get("input")
    items = raw_input if isinstance(raw_input, list) else [raw_input]
    if items and all(isinstance(x, int) for x in items):
        items = [items]  # one input given as token ids
    texts = [x if isinstance(x, str) else json.dumps(x) for x in items]
    as_base64 = request.get("encoding_format") == "base64"
    data = []
    for i, text in enumerate(texts):
        vector = embedding_vector(text, dim)
        encoded: Any = vector
        if as_base64:
            encoded = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": encoded})
    tokens = sum(count_words(t) for t in texts)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
