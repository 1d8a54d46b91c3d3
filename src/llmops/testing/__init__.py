"""Test helpers shipped for users' CI: a scripted OpenAI-compatible server on loopback.

``ScriptedLLMServer`` stands in for any LLM upstream (OpenAI, vLLM) with scripted ``Reply``
objects: answers, errors with ``Retry-After``, delays, garbage bodies and broken streams.
``llmops.testing.vllm`` starts a real vLLM CPU server on a tiny random model for protocol tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.testing.fake_llm import ScriptedLLMServer
    from llmops.testing.replies import Reply

__all__ = ["Reply", "ScriptedLLMServer", "assert_grounded", "assert_similar"]


def __getattr__(name: str) -> Any:
    # Lazy, so `python -m llmops.testing.fake_llm` does not import its own module twice.
    if name == "ScriptedLLMServer":
        from llmops.testing.fake_llm import ScriptedLLMServer

        return ScriptedLLMServer
    if name in ("assert_grounded", "assert_similar"):
        from llmops.testing import assertions

        return getattr(assertions, name)
    if name == "Reply":
        from llmops.testing.replies import Reply

        return Reply
    raise AttributeError(f"module 'llmops.testing' has no attribute '{name}'")
