"""The prompt file format: what a prompt engineer writes in ``prompts/<name>.yaml``."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from llmops.hashing import sha256_text
from llmops.validation import exactly_one

__all__ = [
    "NAME_PATTERN",
    "Message",
    "Params",
    "PromptFile",
    "VarType",
    "Variable",
    "content_hash",
    "type_error",
]

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

VarType = Literal["string", "integer", "number", "boolean", "array", "object"]

_ARTICLE = {"integer": "an integer", "array": "an array", "object": "an object"}


def type_error(value: Any, expected: str) -> str | None:
    """Return why ``value`` is not of the declared ``expected`` type, or None when it is."""
    checks: dict[str, Any] = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "array": lambda v: isinstance(v, list | tuple),
        "object": lambda v: isinstance(v, dict),
    }
    if checks[expected](value):
        return None
    return f"expected {_ARTICLE.get(expected, 'a ' + expected)}, got {_json_type(value)} {_short(value)}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _short(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Variable(_Strict):
    """One declared input variable of a prompt."""

    type: VarType = Field("string", description="JSON type the value must have")
    description: str | None = Field(None, description="what the caller passes")
    default: Any = Field(None, description="value used when the caller passes none")
    required: bool | None = Field(
        None, description="default: true unless a default is given (an explicit null counts)"
    )

    @field_validator("default")
    @classmethod
    def _default_has_type(cls, value: Any, info: ValidationInfo) -> Any:
        expected = info.data.get("type", "string")
        if value is not None:
            problem = type_error(value, expected)
            if problem:
                raise ValueError(f"default does not match type '{expected}': {problem}")
        return value

    @model_validator(mode="after")
    def _required_without_default(self) -> Variable:
        if self.required and self.has_default:
            raise ValueError("a required variable cannot have a default; drop one of them")
        return self

    @property
    def has_default(self) -> bool:
        """Return True when the file gives a default (even null)."""
        return "default" in self.model_fields_set

    @property
    def is_required(self) -> bool:
        """Return True when callers must pass this variable."""
        return self.required if self.required is not None else not self.has_default


class Message(_Strict):
    """One chat message; ``content`` is a Jinja2 template."""

    role: Literal["system", "developer", "user", "assistant"]
    content: str = Field(description="Jinja2 template (StrictUndefined, sandboxed)")


class Params(_Strict):
    """Model parameters sent with the rendered messages."""

    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = None
    response_format: dict[str, Any] | None = Field(
        None, description='OpenAI response_format, e.g. {"type": "json_object"}'
    )
    seed: int | None = None


class PromptFile(BaseModel):
    """A prompt: metadata, declared variables, messages or one template, model parameters."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        title="llmops prompt",
    )

    schema_: str | None = Field(None, alias="$schema", description="JSON Schema for editors")
    name: str = Field(pattern=NAME_PATTERN, description="prompt name; matches the file name")
    version: int | None = Field(
        None, ge=1, description="set by `llmops prompt release` in released files only"
    )
    description: str | None = None
    owner: str | None = None
    tags: list[str] = Field(default_factory=list)
    variables: dict[str, Variable] = Field(default_factory=dict)
    messages: list[Message] | None = Field(None, min_length=1)
    template: str | None = Field(None, description="a single Jinja2 template (sent as user)")
    params: Params = Field(default_factory=Params)

    @field_validator("variables")
    @classmethod
    def _identifiers(cls, value: dict[str, Variable]) -> dict[str, Variable]:
        for key in value:
            if not _VAR_NAME.match(key):
                raise ValueError(f"variable name '{key}' is not an identifier (letters, digits, _)")
        return value

    @model_validator(mode="after")
    def _one_body(self) -> PromptFile:
        exactly_one(self, "messages", "template")
        return self

    def templates(self) -> list[tuple[str, str]]:
        """Return ``(key, source)`` for every Jinja2 template in the file."""
        if self.template is not None:
            return [("template", self.template)]
        return [(f"messages.{i}.content", m.content) for i, m in enumerate(self.messages or [])]

    def semantic(self) -> dict[str, Any]:
        """Return what the file says, minus ``version`` and ``$schema`` (JSON-compatible)."""
        out = self.model_dump(
            mode="json", exclude_defaults=True, exclude={"version", "schema_"}, by_alias=True
        )
        # An explicit `default: null` makes a variable optional, so it is content too.
        for key, var in self.variables.items():
            if var.has_default:
                out.setdefault("variables", {}).setdefault(key, {})["default"] = var.default
        return out


def content_hash(prompt: PromptFile) -> str:
    """Return ``sha256:<hex>`` of the canonical JSON of the file's semantic content."""
    canonical = json.dumps(
        prompt.semantic(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return "sha256:" + sha256_text(canonical)
