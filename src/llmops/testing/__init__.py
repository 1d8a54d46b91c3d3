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

__all__ = ["Reply", "ScriptedLLMServer"]


def __getattr__(name: str) -> Any:
    # Lazy, so `python -m llmops.testing.fake_llm` does not import its own module twice.
    if name == "ScriptedLLMServer":
        from llmops.testing.fake_llm import ScriptedLLMServer

        return ScriptedLLMServer
    if name == "Reply":
        from llmops.testing.replies import Reply

        return Reply
    raise AttributeError(f"module 'llmops.testing' has no attribute '{name}'")


from llmops.testing.assertions import assert_grounded as assert_grounded  # noqa: E402
from llmops.testing.assertions import assert_similar as assert_similar  # noqa: E402
