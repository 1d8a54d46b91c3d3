"""Test helpers shipped for users' CI: a scripted OpenAI-compatible server on loopback.

``ScriptedLLMServer`` stands in for any LLM upstream (OpenAI, vLLM) with scripted ``Reply``
objects: answers, errors with ``Retry-After``, delays, garbage bodies and broken streams.
``ManualClock`` is a clock a test moves by hand; ``wait_until``/``wait_for_http`` poll a
condition up to a deadline (no fixed sleeps); ``stop_process`` terminates a child, then kills it.
``llmops.testing.vllm`` starts a real vLLM CPU server on a tiny random model for protocol tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Re-exported for type checkers (the names resolve lazily at run time).
    from llmops.testing.assertions import assert_grounded as assert_grounded
    from llmops.testing.assertions import assert_similar as assert_similar
    from llmops.testing.clock import ManualClock as ManualClock
    from llmops.testing.fake_llm import ScriptedLLMServer as ScriptedLLMServer
    from llmops.testing.processes import stop_process as stop_process
    from llmops.testing.replies import Reply as Reply
    from llmops.testing.waiting import wait_for_http as wait_for_http
    from llmops.testing.waiting import wait_until as wait_until

#: public name -> the module that defines it (imported on first use).
_HOMES = {
    "ManualClock": "llmops.testing.clock",
    "Reply": "llmops.testing.replies",
    "ScriptedLLMServer": "llmops.testing.fake_llm",
    "assert_grounded": "llmops.testing.assertions",
    "assert_similar": "llmops.testing.assertions",
    "stop_process": "llmops.testing.processes",
    "wait_for_http": "llmops.testing.waiting",
    "wait_until": "llmops.testing.waiting",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    # Lazy, so `python -m llmops.testing.fake_llm` does not import its own module twice.
    if name not in _HOMES:
        raise AttributeError(f"module 'llmops.testing' has no attribute '{name}'")
    import importlib

    return getattr(importlib.import_module(_HOMES[name]), name)
