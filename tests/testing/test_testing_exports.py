"""The public surface of ``llmops.testing`` is pinned (other projects' CI imports it)."""

from __future__ import annotations

import llmops.testing


def test_testing_exports() -> None:
    assert sorted(llmops.testing.__all__) == [
        "ManualClock",
        "Reply",
        "ScriptedLLMServer",
        "assert_grounded",
        "assert_similar",
        "wait_for_http",
        "wait_until",
    ]
    for name in llmops.testing.__all__:
        assert getattr(llmops.testing, name).__module__.startswith("llmops.testing")
