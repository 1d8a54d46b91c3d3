"""Golden sets: ``golden_sets/*.jsonl``, one record per line, versioned by content hash.

A record::

    {"id": "pydocs-001", "input": "question", "reference": "answer",
     "reference_sources": ["topics/global.md"], "tags": ["topics"], "answerable": true,
     "attributes": {"kind": "definition", "area": "language"}}

``messages`` (OpenAI chat format) may replace ``input``; ``reference_contexts`` (texts) and
``labels`` (human labels such as ``{"faithful": true}``, used for judge calibration) are optional.
``attributes`` are named metadata (``topic``, ``language``, ``persona``, ...: one string value
per name) that a suite's ``slices:`` breaks results down by, as it can by ``tags``.
Loading reports every bad line (missing fields, wrong types, duplicate ids, unknown keys with a
did-you-mean) at once, as ``file:line: ...``. The JSON Schema of one line ships as
``llmops/schemas/golden-record.schema.json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from llmops.errors import CheckFailedError, NotFoundError
from llmops.hashing import sha256_text
from llmops.suggest import did_you_mean

__all__ = [
    "ATTRIBUTE_NAME",
    "GoldenRecord",
    "GoldenSet",
    "golden_record_schema",
    "load_golden_set",
    "load_golden_sets",
]

# An attribute name: a word that reads well as ``name=value`` in reports ("tags" means tags).
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")


class GoldenRecord(BaseModel):
    """One golden-set item."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    input: str | None = None
    messages: list[dict[str, Any]] | None = None
    reference: str | None = None
    reference_sources: list[str] = Field(default_factory=list)
    reference_contexts: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    answerable: bool = True
    labels: dict[str, bool | float | str] = Field(default_factory=dict)
    vars: dict[str, Any] = Field(default_factory=dict, description="extra prompt variables")
    attributes: dict[str, str] = Field(
        default_factory=dict,
        description='named metadata to slice results by, e.g. {"kind": "how-to", '
        '"area": "stdlib"}: one non-empty string per name',
        json_schema_extra={
            "propertyNames": {"pattern": ATTRIBUTE_NAME.pattern, "not": {"const": "tags"}},
            "additionalProperties": {"type": "string", "minLength": 1},
        },
    )

    @field_validator("attributes")
    @classmethod
    def _attribute_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if name == "tags" or not ATTRIBUTE_NAME.match(name):
                raise ValueError(
                    f"attribute name '{name}' must be a word of letters, digits, '_' or '-' "
                    "(starting with a letter, at most 40 characters) and not 'tags'"
                )
            if not text.strip():
                raise ValueError(f"attribute '{name}' is empty")
        return value

    @model_validator(mode="after")
    def _input_or_messages(self) -> GoldenRecord:
        if (self.input is None) == (self.messages is None):
            raise ValueError("give exactly one of 'input' or 'messages'")
        return self

    @property
    def question(self) -> str:
        """Return the input, or the last user message when the record has messages."""
        if self.input is not None:
            return self.input
        for message in reversed(self.messages or []):
            if message.get("role") == "user":
                return str(message.get("content") or "")
        return ""


@dataclass(frozen=True)
class GoldenSet:
    """The records of one or more files plus a content hash that versions them."""

    records: tuple[GoldenRecord, ...]
    paths: tuple[Path, ...]
    content_hash: str

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[GoldenRecord]:
        return iter(self.records)

    def select(self, tags: Iterable[str] | None = None, limit: int | None = None) -> GoldenSet:
        """Return the records carrying any of ``tags`` (all when None), at most ``limit``."""
        wanted = set(tags or ())
        records = [r for r in self.records if not wanted or wanted & set(r.tags)]
        if limit is not None:
            records = records[:limit]
        return GoldenSet(tuple(records), self.paths, self.content_hash)


def golden_record_schema() -> dict[str, Any]:
    """Return the JSON Schema of one golden-set line."""
    from llmops.schema_files import model_schema

    return model_schema(GoldenRecord, title="llmops golden-set record (one JSONL line)")


def _describe(exc: ValidationError) -> str:
    parts = []
    fields = sorted(GoldenRecord.model_fields)
    for err in exc.errors(include_url=False):
        key = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "missing":
            parts.append(f"missing field '{key}'")
        elif err["type"] == "extra_forbidden":
            guess = did_you_mean(key, fields) if len(err["loc"]) == 1 else None
            parts.append(
                f"unknown field '{key}'" + (f" (did you mean '{guess}'?)" if guess else "")
            )
        else:
            parts.append(f"'{key}': {msg}" if key else msg)
    return "; ".join(parts)


def _parse(path: Path, text: str, problems: list[str], seen: dict[str, str]) -> list[GoldenRecord]:
    records: list[GoldenRecord] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(data, dict):
            problems.append(f"{where}: expected a JSON object, found {type(data).__name__}")
            continue
        try:
            record = GoldenRecord.model_validate(data)
        except ValidationError as exc:
            problems.append(f"{where}: {_describe(exc)}")
            continue
        if record.id in seen:
            problems.append(f"{where}: duplicate id '{record.id}' (first at {seen[record.id]})")
            continue
        seen[record.id] = where
        records.append(record)
    return records


def load_golden_sets(paths: Iterable[str | Path]) -> GoldenSet:
    """Load and concatenate golden-set files; raise CheckFailedError listing every bad line."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    records: list[GoldenRecord] = []
    resolved: list[Path] = []
    digest_parts: list[str] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise NotFoundError(
                f"golden set '{path}' not found",
                file=path,
                hint="create it (one JSON object per line) or fix the path in the suite",
            )
        text = path.read_text(encoding="utf-8")
        digest_parts.append(sha256_text(text))
        records.extend(_parse(path, text, problems, seen))
        resolved.append(path)
    if problems:
        raise CheckFailedError(
            f"{len(problems)} invalid golden record(s)",
            problems=problems,
            hint="each line needs 'id' and 'input' (or 'messages'); ids must be unique",
        )
    if not records:
        raise CheckFailedError(
            "the golden set is empty", problems=[str(p) for p in resolved], hint="add records"
        )
    content_hash = sha256_text("\n".join(digest_parts))
    return GoldenSet(tuple(records), tuple(resolved), content_hash)


def load_golden_set(path: str | Path) -> GoldenSet:
    """Load one golden-set file."""
    return load_golden_sets([path])
