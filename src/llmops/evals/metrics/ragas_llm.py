"""ragas' LLM on llmops' model seam, with structured output.

ragas 0.4.3 hands an ``InstructorBaseRagasLLM`` the prompt text and the pydantic model it expects
back (``agenerate(prompt, response_model)``), for its legacy ``evaluate()`` metrics and its
``collections`` metrics alike. :func:`structured_ragas_llm` answers that call through a
``ChatEndpoint`` (the judge's provider and transport, one retry policy) with
``response_format: json_schema`` built from that pydantic model, so a server with guided decoding
(vLLM) can only return JSON that parses. Every call asks for one generation (``n`` is never
sent), at temperature 0, capped at ``max_tokens``; a prompt longer than ``max_prompt_chars`` is
refused before it is sent (ragas' few-shot prompts can overflow a small model's context).
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from llmops.errors import LLMOpsError

__all__ = ["ChatSeam", "RagasReplyError", "response_format_for", "structured_ragas_llm"]


class ChatSeam(Protocol):
    """What the adapter needs from a model: ``ChatEndpoint.chat``'s signature."""

    async def chat(
        self, model: str, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> dict[str, Any]:
        """Return at least ``{"content": str}`` for one completion."""
        ...


class RagasReplyError(LLMOpsError):
    """A ragas prompt was refused (too long) or its reply did not fit ragas' output model."""


def response_format_for(model: type[BaseModel]) -> dict[str, Any]:
    """Return the OpenAI ``response_format`` asking for JSON that validates as ``model``."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": model.__name__,
            "schema": model.model_json_schema(),
            "strict": True,
        },
    }


def structured_ragas_llm(
    seam: ChatSeam,
    model: str,
    *,
    max_tokens: int = 512,
    max_prompt_chars: int | None = None,
) -> Any:
    """Return a ragas ``InstructorBaseRagasLLM`` that sends through ``seam`` (ragas imported now)."""
    from ragas.llms.base import InstructorBaseRagasLLM

    class _StructuredLLM(InstructorBaseRagasLLM):
        is_async = True  # ragas' prompts call agenerate() when this is set

        def __init__(self) -> None:
            self.model = model
            self.calls = 0

        async def agenerate(self, prompt: str, response_model: type[BaseModel]) -> BaseModel:
            if max_prompt_chars is not None and len(prompt) > max_prompt_chars:
                raise RagasReplyError(
                    f"ragas {response_model.__name__} prompt has {len(prompt)} characters, "
                    f"over the cap of {max_prompt_chars}",
                    hint="shorten the contexts or raise max_prompt_chars (and the server's "
                    "--max-model-len)",
                )
            params = {
                "temperature": 0,
                "max_tokens": max_tokens,
                "response_format": response_format_for(response_model),
            }
            self.calls += 1
            reply = await seam.chat(model, [{"role": "user", "content": prompt}], params)
            content = str(reply.get("content") or "")
            try:
                return response_model.model_validate_json(content)
            except ValidationError as exc:
                raise RagasReplyError(
                    f"judge reply is not a valid {response_model.__name__}: "
                    f"{exc.errors()[0]['msg']} in {content[:80]!r}",
                    hint="does the server honour response_format json_schema (vLLM does)? "
                    "a reply cut at max_tokens is invalid JSON too",
                ) from None

        def generate(self, prompt: str, response_model: type[BaseModel]) -> BaseModel:
            return asyncio.run(self.agenerate(prompt, response_model))

    return _StructuredLLM()
