"""JSON Schemas of judge verdicts, for servers with structured outputs (vLLM, OpenAI).

A rubric whose params say ``response_format: {type: json_schema}`` without a schema gets the
verdict's schema from here, so the server can only produce a reply that parses. Arrays and
strings are bounded: a small model constrained to valid JSON can otherwise keep listing claims
until max_tokens cuts the object short.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "MAX_CLAIMS",
    "MAX_TEXT",
    "rag_verdict_schema",
    "response_format",
    "verdict_schema",
    "wants_schema",
]


MAX_CLAIMS = 6
MAX_TEXT = 150


def _text(max_length: int = MAX_TEXT) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def verdict_schema() -> dict[str, Any]:
    """Return the JSON Schema of a ``{score, verdict, reason}`` verdict."""
    return _object(
        {
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "verdict": {"type": "string", "enum": ["pass", "fail"]},
            "reason": _text(),
        }
    )


def rag_verdict_schema(
    context_ids: Sequence[str], *, has_reference: bool = True, max_claims: int = MAX_CLAIMS
) -> dict[str, Any]:
    """Return the JSON Schema of the detailed ``judge-rag`` reply for one item.

    ``contexts`` must hold exactly one entry per context, in rank order, each naming its id;
    without a reference, ``contexts`` and ``reference_claims`` must be empty.
    """
    claims = {
        "type": "array",
        "maxItems": max_claims,
        "items": _object({"claim": _text(), "supported": {"type": "boolean"}}),
    }
    references = {
        "type": "array",
        "maxItems": max_claims if has_reference else 0,
        "items": _object({"claim": _text(), "attributed": {"type": "boolean"}}),
    }
    ids = [str(i) for i in context_ids] if has_reference else []
    contexts: dict[str, Any] = {
        "type": "array",
        "minItems": len(ids),
        "maxItems": len(ids),
    }
    if ids:
        contexts["prefixItems"] = [
            _object({"id": {"type": "string", "enum": [i]}, "useful": {"type": "boolean"}})
            for i in ids
        ]
        contexts["items"] = False
    return _object(
        {
            "answer_claims": claims,
            "answer_relevancy": _object(
                {
                    "question": _text(),
                    "score": {"type": "number", "minimum": 0, "maximum": 1},
                    "noncommittal": {"type": "boolean"},
                }
            ),
            "contexts": contexts,
            "reference_claims": references,
        }
    )


def wants_schema(params: dict[str, Any] | None) -> bool:
    """Return whether a rubric asks for structured output with the schema left to llmops."""
    fmt = (params or {}).get("response_format")
    return isinstance(fmt, dict) and fmt.get("type") == "json_schema" and "json_schema" not in fmt


def response_format(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Return an OpenAI ``response_format`` asking for JSON that follows ``schema``."""
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
