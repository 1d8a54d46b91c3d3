"""Output guards: system-prompt leak, groundedness, JSON schema; input limits and topics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops.guards.base import CheckContext
from llmops.guards.grounding import GroundingGuard, GroundingOptions
from llmops.guards.leak import LeakGuard, LeakOptions
from llmops.guards.limits import LimitsGuard, LimitsOptions
from llmops.guards.structured import JsonSchemaGuard, JsonSchemaOptions, reask_message
from llmops.guards.topic import TopicGuard, TopicOptions

SYSTEM = (
    "You are the support assistant of Acme Bank. Never reveal internal escalation codes such "
    "as ESC-7781 and always answer politely in the customer's language."
)


def test_leak_detects_and_redacts_a_long_run() -> None:
    guard = LeakGuard("system_prompt_leak", None, LeakOptions(min_words=6))
    ctx = CheckContext(stage="output", system_prompt=SYSTEM)
    answer = "Sure! My rules: never reveal internal escalation codes such as ESC-7781, bye."
    result = guard.check(answer, ctx)
    assert not result.passed
    assert result.spans[0].text == "never reveal internal escalation codes such as ESC-7781"
    assert result.fixed == "Sure! My rules: [redacted], bye."
    assert guard.check("Your balance is 12 euros, have a nice day.", ctx).passed


def test_leak_without_system_prompt_passes() -> None:
    guard = LeakGuard("system_prompt_leak", None, LeakOptions())
    assert guard.check("anything", CheckContext(stage="output")).passed


def test_limits_per_message_and_request() -> None:
    guard = LimitsGuard(
        "limits", None, LimitsOptions(max_chars=10, max_request_chars=15, max_messages=2)
    )
    ok = guard.check("short", CheckContext(messages=["short"]))
    assert ok.passed
    long = guard.check("x" * 11, CheckContext(messages=["x" * 11, "y" * 6, "z"]))
    assert not long.passed and long.fixed == "x" * 10
    assert len(long.details["problems"]) == 3


def test_json_schema_valid_repaired_and_invalid() -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    }
    guard = JsonSchemaGuard(
        "json_schema", None, JsonSchemaOptions.model_validate({"schema": schema})
    )
    ctx = CheckContext(stage="output")
    assert guard.check('{"city": "Oslo", "days": 3}', ctx).passed
    fenced = guard.check('Here you go:\n```json\n{"city": "Oslo", "days": 3,}\n```', ctx)
    assert not fenced.passed and json.loads(fenced.fixed or "") == {"city": "Oslo", "days": 3}
    bad = guard.check('{"city": "Oslo"}', ctx)
    assert not bad.passed and bad.fixed is None
    assert "days" in bad.details["errors"][0]
    assert "days" in reask_message(bad.details["errors"])


def test_json_schema_file(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"type": "array"}')
    guard = JsonSchemaGuard("json_schema", None, JsonSchemaOptions(schema_file=str(path)))
    assert guard.check("[1, 2]", CheckContext()).passed
    assert not guard.check("{}", CheckContext()).passed


@pytest.mark.slow
def test_groundedness_flags_unsupported_sentences() -> None:
    contexts = [
        "The Eiffel Tower is 330 metres tall. It was completed in 1889 for the World's Fair.",
        "Paris is the capital of France.",
    ]
    ctx = CheckContext(stage="output", contexts=contexts)
    guard = GroundingGuard("groundedness", None, GroundingOptions(fix="remove"))
    good = guard.check("The Eiffel Tower was completed in 1889. It is 330 metres tall.", ctx)
    assert good.passed, good.details
    bad = guard.check(
        "The Eiffel Tower was completed in 1889. Bananas are rich in potassium and grow in "
        "tropical climates.",
        ctx,
    )
    assert not bad.passed
    assert [s.text for s in bad.spans] == [
        "Bananas are rich in potassium and grow in tropical climates."
    ]
    assert bad.fixed == "The Eiffel Tower was completed in 1889."
    abstain = GroundingGuard("groundedness", None, GroundingOptions())
    assert abstain.check(bad.spans[0].text, ctx).fixed == GroundingOptions().abstention


@pytest.mark.slow
def test_topic_deny_list() -> None:
    deny = ["medication dosage and prescription drugs", "how much of a medicine or drug to take"]
    guard = TopicGuard("topic", None, TopicOptions(deny=deny))
    for text in ("How many milligrams of ibuprofen can I take a day?", "Can I double my dose?"):
        result = guard.check(text, CheckContext())
        assert not result.passed, (text, result.score)
    for text in ("What time does the museum open on Sunday?", "How do I take a screenshot?"):
        assert guard.check(text, CheckContext()).passed
