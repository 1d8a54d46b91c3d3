"""Exact OpenAI answers with tool calls, logprobs and several choices, for the scripted server.

The scripted server sends ``Reply(raw_body=...)`` bytes verbatim (as JSON, or inside an event
stream), so these builders give tests byte-exact upstream answers that clients parse.
"""

from __future__ import annotations

import json
from typing import Any

from llmops.testing import Reply


def tool_call(name: str, arguments: dict[str, Any], call_id: str = "call_1") -> dict[str, Any]:
    """Return one OpenAI tool call."""
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


def _logprobs(text: str) -> dict[str, Any]:
    return {
        "content": [
            {"token": t, "logprob": -0.25, "bytes": list(t.encode()), "top_logprobs": []}
            for t in text.split(" ")
        ],
        "refusal": None,
    }


def answer(
    model: str,
    *,
    contents: list[str | None] | None = None,
    calls: list[dict[str, Any]] | None = None,
    logprobs: bool = False,
) -> Reply:
    """Return a non-streamed chat.completion: one choice per content, or one with tool calls."""
    choices = []
    for i, content in enumerate(contents or [None]):
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if calls and i == 0:
            message["tool_calls"] = calls
        choices.append(
            {
                "index": i,
                "message": message,
                "logprobs": _logprobs(content) if logprobs and content else None,
                "finish_reason": "tool_calls" if calls and i == 0 else "stop",
            }
        )
    body = {
        "id": "chatcmpl-up",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "system_fingerprint": "fp_scripted",
        "choices": choices,
        "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12},
    }
    return Reply(raw_body=json.dumps(body).encode())


def streamed_calls(model: str, calls: list[dict[str, Any]], pieces: int = 3) -> Reply:
    """Return an event stream whose tool-call arguments arrive in ``pieces`` fragments each."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        body = {
            "id": "chatcmpl-up",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    out = chunk({"role": "assistant", "content": None})
    for index, call in enumerate(calls):
        args = call["function"]["arguments"]
        step = max(1, len(args) // pieces + 1)
        head = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        out += chunk({"tool_calls": [head]})
        for start in range(0, len(args), step):
            piece = {"index": index, "function": {"arguments": args[start : start + step]}}
            out += chunk({"tool_calls": [piece]})
    out += chunk({}, "tool_calls")
    usage = {
        "id": "chatcmpl-up",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [],
        "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12},
    }
    out += b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n"
    return Reply(raw_body=out)
