"""JSON-schema validity for structured routes, with a local repair and one re-ask.

The local repair takes the JSON out of Markdown fences or surrounding prose and drops trailing
commas. When that is not enough, ``reask_message`` builds the one follow-up message the gateway
sends upstream; a second failure is an error.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmops.errors import ConfigError
from llmops.guards.base import CheckContext, GuardBase, GuardResult, clean_text
from llmops.validation import exactly_one

__all__ = ["INFO", "JsonSchemaGuard", "JsonSchemaOptions", "reask_message", "repair_json"]


class JsonSchemaOptions(BaseModel):
    """Options of the ``json_schema`` guard: an inline schema or a schema file."""

    model_config = ConfigDict(extra="forbid")

    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    schema_file: str | None = None
    repair: bool = Field(default=True, description="Try a local repair before failing.")

    @model_validator(mode="after")
    def _one_schema(self) -> JsonSchemaOptions:
        exactly_one(self, "schema_", "schema_file")
        if self.schema_ is not None:
            from jsonschema import Draft202012Validator
            from jsonschema.exceptions import SchemaError

            try:
                Draft202012Validator.check_schema(self.schema_)
            except SchemaError as exc:
                raise ValueError(f"invalid JSON Schema: {exc.message}") from None
        return self


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def repair_json(text: str) -> Any:
    """Return the JSON value found in ``text`` after a light repair; raise ValueError if none."""
    candidates = [text]
    fenced = _FENCE.search(text)
    if fenced:
        candidates.append(fenced.group(1))
    for open_, close in (("{", "}"), ("[", "]")):
        i, j = text.find(open_), text.rfind(close)
        if 0 <= i < j:
            candidates.append(text[i : j + 1])
    for cand in candidates:
        for variant in (cand, _TRAILING_COMMA.sub(r"\1", cand)):
            try:
                return json.loads(variant)
            except ValueError:
                continue
    raise ValueError("no JSON value found")


def reask_message(errors: list[str]) -> str:
    """Return the one follow-up user message asking the model to fix its JSON."""
    listed = "\n".join(f"- {e}" for e in errors[:10])
    return (
        "Your previous answer was not valid JSON for the required schema:\n"
        f"{listed}\nReply again with only the corrected JSON, no prose."
    )


class JsonSchemaGuard(GuardBase[JsonSchemaOptions]):
    """Fail when the answer is not JSON matching the schema; the fix is the repaired JSON."""

    stages = ("output",)
    summary = "JSON-schema validity for structured routes (local repair, one re-ask, then error)."
    stream = "final"

    def __init__(self, name: str, threshold: float | None, options: JsonSchemaOptions) -> None:
        from jsonschema import Draft202012Validator

        super().__init__(name, threshold, options)
        schema = options.schema_
        if schema is None:
            path = Path(str(options.schema_file))
            try:
                schema = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"cannot read JSON Schema {path}: {exc}", file=path, key="schema_file"
                ) from None
        self._validator = Draft202012Validator(schema)

    def _errors(self, value: Any) -> list[str]:
        return [
            f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in self._validator.iter_errors(value)
        ]

    def check(self, text: str, ctx: CheckContext) -> GuardResult:
        """Validate ``text`` as JSON against the schema, repairing locally if allowed."""
        start = time.perf_counter()
        text = clean_text(text)
        repaired = False
        errors: list[str] = []
        try:
            value = json.loads(text)
        except ValueError as exc:
            if not self.options.repair:
                value, errors = None, [f"invalid JSON: {exc}"]
            else:
                try:
                    value, repaired = repair_json(text), True
                except ValueError:
                    value, errors = None, [f"invalid JSON: {exc}"]
        if value is not None or text.strip() == "null":
            errors = self._errors(value)
        fixed = json.dumps(value, ensure_ascii=False) if repaired and not errors else None
        details = {"errors": errors, "repaired": repaired and not errors}
        if errors:
            details["reask"] = reask_message(errors)
        return self.pass_fail(start, not errors and not repaired, details=details, fixed=fixed)


INFO = JsonSchemaGuard.info("json_schema")
