"""Structured outputs for the judge: the JSON Schemas llmops fills into ``response_format``."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from llmops.evals.verdict_schema import (
    MAX_CLAIMS,
    rag_verdict_schema,
    response_format,
    verdict_schema,
    wants_schema,
)
from llmops.evals.verdicts import RagScoring, parse_rag_verdict, parse_verdict

IDS = ["topics/global.md#0", "topics/nonlocal.md#1", "library/os.md#4"]


def detailed(**changes: Any) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "answer_claims": [{"claim": "global declares globals", "supported": True}],
        "answer_relevancy": {
            "question": "What does global do?",
            "score": 0.9,
            "noncommittal": False,
        },
        "contexts": [{"id": i, "useful": n == 0} for n, i in enumerate(IDS)],
        "reference_claims": [{"claim": "it declares globals", "attributed": True}],
    }
    reply.update(changes)
    return reply


def valid(schema: dict[str, Any], value: Any) -> bool:
    try:
        jsonschema.Draft202012Validator(schema).validate(value)
    except jsonschema.ValidationError:
        return False
    return True


def test_a_reply_that_fits_the_schema_also_parses() -> None:
    reply = detailed()
    assert valid(rag_verdict_schema(IDS), reply)
    verdict = parse_rag_verdict(json.dumps(reply), RagScoring(context_ids=IDS))
    assert verdict.form == "detailed" and verdict.context_precision is not None


@pytest.mark.parametrize(
    "change",
    [
        {"contexts": [{"id": i, "useful": True} for i in IDS[:2]]},  # one context missing
        {"contexts": [{"id": i, "useful": True} for i in reversed(IDS)]},  # out of rank order
        {"contexts": [{"id": i, "useful": True} for i in [*IDS, IDS[0]]]},  # one too many
        {"answer_claims": [{"claim": "c", "supported": True}] * (MAX_CLAIMS + 1)},
        {"answer_claims": [{"claim": "x" * 151, "supported": True}]},
        {"answer_relevancy": {"question": "q", "score": 1.5, "noncommittal": False}},
        {"extra": 1},
        {"reference_claims": None},
    ],
)
def test_the_schema_rejects_what_would_not_score(change: dict[str, Any]) -> None:
    assert not valid(rag_verdict_schema(IDS), detailed(**change))


def test_without_a_reference_contexts_and_reference_claims_are_empty() -> None:
    schema = rag_verdict_schema(IDS, has_reference=False)
    assert valid(schema, detailed(contexts=[], reference_claims=[]))
    assert not valid(schema, detailed(reference_claims=[]))
    assert not valid(schema, detailed(contexts=[]))


def test_flat_verdict_schema() -> None:
    schema = verdict_schema()
    good = {"score": 0.8, "verdict": "pass", "reason": "all claims supported"}
    assert valid(schema, good) and parse_verdict(json.dumps(good)).score == 0.8
    assert not valid(schema, {**good, "verdict": "maybe"})
    assert not valid(schema, {"score": 0.8, "verdict": "pass"})


def test_only_a_schemaless_json_schema_request_is_filled_in() -> None:
    assert wants_schema({"response_format": {"type": "json_schema"}})
    given = response_format("mine", {"type": "object"})
    assert not wants_schema({"response_format": given})
    assert not wants_schema({"response_format": {"type": "json_object"}})
    assert not wants_schema({})
    assert given == {
        "type": "json_schema",
        "json_schema": {"name": "mine", "schema": {"type": "object"}, "strict": True},
    }
