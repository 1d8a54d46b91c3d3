"""Test helpers shipped for users' CI: a scripted OpenAI-compatible server on loopback.

``ScriptedLLMServer`` stands in for any LLM upstream (OpenAI, vLLM) with scripted ``Reply``
objects: answers, errors with ``Retry-After``, delays, garbage bodies and broken streams.
``ManualClock`` is a clock a test moves by hand; ``wait_until``/``wait_for_http`` poll a condition up to a deadline (no fixed sleeps).
``llmops.testing.vllm`` starts a real vLLM CPU server on a tiny random model for protocol tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.testing.clock import ManualClock
    from llmops.testing.fake_llm import ScriptedLLMServer
    from llmops.testing.replies import Reply
    from llmops.testing.waiting import wait_for_http, wait_until

__all__ = [
    "ManualClock",
    "Reply",
    "ScriptedLLMServer",
    "assert_grounded",
    "assert_similar",
    "wait_for_http",
    "wait_until",
]


def __getattr__(name: str) -> Any:
    # Lazy, so `python -m llmops.testing.fake_llm` does not import its own module twice.
    if name == "ScriptedLLMServer":
        from llmops.testing.fake_llm import ScriptedLLMServer

        return ScriptedLLMServer
    if name in ("assert_grounded", "assert_similar"):
        from llmops.testing import assertions

        return getattr(assertions, name)
    if name == "ManualClock":
        from llmops.testing.clock import ManualClock

        return ManualClock
    if name in ("wait_for_http", "wait_until"):
        from llmops.testing import waiting

        return getattr(waiting, name)
    if name == "Reply":
        from llmops.testing.replies import Reply

        return Reply
    raise AttributeError(f"module 'llmops.testing' has no attribute '{name}'")
