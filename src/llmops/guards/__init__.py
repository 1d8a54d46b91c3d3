"""Guardrails for the gateway: injection, PII, limits, topics, leaks, groundedness, JSON.

Each guard is a guardrails-ai ``Validator`` registered locally and composed with ``Guard``;
``GuardPipeline`` runs a route's configured guards on input, retrieved contexts and output
(whole or streamed). Heavy libraries load on first use, not on import.
"""

from llmops.guards.base import CheckContext, Guard, GuardResult, Span, Verdict
from llmops.guards.config import GuardsConfig, GuardSpec, OnFail, default_guards
from llmops.guards.pipeline import GuardPipeline, message_text
from llmops.guards.registry import GuardInfo, available_guards, get_guard_info, register_guard
from llmops.guards.stream import StreamGuard

__all__ = [
    "CheckContext",
    "Guard",
    "GuardInfo",
    "GuardPipeline",
    "GuardResult",
    "GuardSpec",
    "GuardsConfig",
    "OnFail",
    "Span",
    "StreamGuard",
    "Verdict",
    "available_guards",
    "default_guards",
    "get_guard_info",
    "message_text",
    "register_guard",
]
