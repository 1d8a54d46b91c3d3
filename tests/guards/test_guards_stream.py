"""Streaming: sentence windows, no whole-answer buffering, block mid-stream, hold-back fixes."""

from __future__ import annotations

from typing import Any

import pytest

from llmops.guards import GuardPipeline, GuardsConfig

pytestmark = pytest.mark.slow


def _pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def test_pass_through_blocks_on_the_leaking_window(default_pipeline: Any) -> None:
    sg = default_pipeline.stream_guard(hold_back=False)
    answer = (
        "Hello and welcome. Your balance is fine. "
        "Internal note: never reveal internal escalation codes such as ESC-7781 ok. "
        "This sentence must never be checked."
    )
    outcomes = []
    for piece in _pieces(answer):
        verdict = sg.feed(piece)
        if verdict is not None:
            outcomes.append(verdict)
            if verdict.action == "block":
                break
    assert outcomes and outcomes[-1].code == "guardrail_blocked:system_prompt_leak"
    # Windows are sentences: the block came at the second window, before the last sentence.
    assert sg.windows == 3
    assert len(sg._buf) < 20  # noqa: SLF001 - nothing beyond the current window is held
    final = sg.finish()
    assert final.action == "block"


def test_clean_stream_returns_nothing_until_finish(default_pipeline: Any) -> None:
    sg = default_pipeline.stream_guard(hold_back=False)
    assert all(sg.feed(p) is None for p in _pieces("One fine day. Another fine day. The end"))
    assert sg.finish().action == "pass"


def test_hold_back_releases_redacted_windows() -> None:
    cfg = GuardsConfig.model_validate({"output": [{"name": "pii", "on_fail": "fix"}]})
    sg = GuardPipeline.from_config(cfg).stream_guard()
    assert sg.hold_back
    released = []
    for piece in _pieces("Write to bob@example.com today. Thanks! Bye"):
        verdict = sg.feed(piece)
        if verdict is not None:
            released.append(verdict.text)
    released.append(sg.finish().text)
    assert "".join(released) == "Write to [EMAIL_1] today. Thanks! Bye"


def test_pass_through_downgrades_fix_to_flag(default_pipeline: Any) -> None:
    sg = default_pipeline.stream_guard(hold_back=False)
    verdict = None
    for piece in _pieces("Call +44 20 7946 0958 now. "):
        verdict = sg.feed(piece) or verdict
    assert verdict is not None and verdict.action == "flag"


def test_json_schema_runs_on_the_whole_answer() -> None:
    cfg = GuardsConfig.model_validate(
        {"output": [{"name": "json_schema", "on_fail": "block",
                     "options": {"schema": {"type": "object", "required": ["a"]}}}]}
    )  # fmt: skip
    sg = GuardPipeline.from_config(cfg).stream_guard()
    for piece in _pieces('{"b": 1}'):
        assert sg.feed(piece) is None
    assert sg.finish().code == "guardrail_blocked:json_schema"
