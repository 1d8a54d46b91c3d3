"""Helpers the vLLM tests share."""

from __future__ import annotations

from typing import Any

import openai


def streamed(client: openai.OpenAI, **request: Any) -> list[Any]:
    """Return every chunk of a greedy (temperature 0) streamed chat completion, the usage
    chunk last."""
    stream = client.chat.completions.create(
        temperature=0, stream=True, stream_options={"include_usage": True}, **request
    )
    return list(stream)
