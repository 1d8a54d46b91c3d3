"""Size limits: characters and tokens per message and per request.

Characters are counted in O(1); tokens with the embedding model's tokenizer, only when a token
limit is configured (and then on at most ``max_chars`` characters per message).
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llmops.guards.base import CheckContext, GuardBase, GuardResult

__all__ = ["INFO", "LimitsGuard", "LimitsOptions"]


class LimitsOptions(BaseModel):
    """Options of the ``limits`` guard (None = no limit)."""

    model_config = ConfigDict(extra="forbid")

    max_chars: int | None = Field(default=32_000, ge=1, description="Characters per message.")
    max_tokens: int | None = Field(default=None, ge=1, description="Tokens per message.")
    max_request_chars: int | None = Field(
        default=128_000, ge=1, description="Characters per request."
    )
    max_request_tokens: int | None = Field(default=None, ge=1, description="Tokens per request.")
    max_messages: int | None = Field(default=None, ge=1, description="Messages per request.")
    model: str = Field(default="all-MiniLM-L6-v2", description="Tokenizer used to count tokens.")


class LimitsGuard(GuardBase[LimitsOptions]):
    """Fail when a message or the whole request is too long; the fix truncates the message."""

    stages = ("input",)
    summary = "Characters/tokens per message and per request, message count."
    request_level = True

    def _tokens(self, text: str) -> int:
        from llmops.embeddings import get_embedder

        limit = (self.options.max_chars or 200_000) + 1
        return get_embedder(self.options.model).count_tokens(text[:limit])

    def check(self, text: str, ctx: CheckContext) -> GuardResult:
        """Compare sizes with the configured limits."""
        start = time.perf_counter()
        o = self.options
        problems: list[str] = []
        details: dict[str, Any] = {"chars": len(text)}
        fixed: str | None = None
        if o.max_chars is not None and len(text) > o.max_chars:
            problems.append(f"message has {len(text)} characters (limit {o.max_chars})")
            fixed = text[: o.max_chars]
        if o.max_tokens is not None:
            tokens = self._tokens(text)
            details["tokens"] = tokens
            if tokens > o.max_tokens:
                problems.append(f"message has {tokens} tokens (limit {o.max_tokens})")
        messages = ctx.messages or [text]
        if o.max_messages is not None and len(messages) > o.max_messages:
            problems.append(f"request has {len(messages)} messages (limit {o.max_messages})")
        total = sum(len(m) for m in messages)
        details["request_chars"] = total
        if o.max_request_chars is not None and total > o.max_request_chars:
            problems.append(f"request has {total} characters (limit {o.max_request_chars})")
        if o.max_request_tokens is not None:
            request_tokens = sum(self._tokens(m) for m in messages)
            details["request_tokens"] = request_tokens
            if request_tokens > o.max_request_tokens:
                problems.append(
                    f"request has {request_tokens} tokens (limit {o.max_request_tokens})"
                )
        details["problems"] = problems
        return self.pass_fail(start, not problems, details=details, fixed=fixed)


INFO = LimitsGuard.info("limits")
