"""JSON Schemas for the files people edit (and the results tools read), generated from their
pydantic models and shipped.

Each area (prompts, pipelines, gateway, suites, model specs, vLLM profiles, llmops.yaml) builds its
schema with ``model_schema`` and writes it with ``write_schema`` into ``llmops/schemas/``; a test
per area fails when a shipped file drifts from its model. Editors validate as people type through
a ``# $schema: ...`` header or their YAML language server settings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import BaseModel

__all__ = ["DRAFT", "SCHEMA_DIR", "ShippedSchema", "model_schema", "schema_text", "write_schema"]

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def model_schema(model: type[BaseModel], *, title: str | None = None) -> dict[str, Any]:
    """Return the JSON Schema that validates files loaded into ``model``."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    head: dict[str, Any] = {"$schema": DRAFT}
    if title is not None:
        head["title"] = title
    return {**head, **schema}


def schema_text(schema: dict[str, Any]) -> str:
    """Return ``schema`` as a shipped file's text (sorted keys, trailing newline)."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schema(schema: dict[str, Any], path: Path) -> Path:
    """Write ``schema`` to ``path`` (atomically); return the path."""
    from llmops.atomic import atomic_write_text

    atomic_write_text(path, schema_text(schema))
    return path


@dataclass(frozen=True)
class ShippedSchema:
    """One schema file shipped in ``llmops/schemas/``: how to build it and where it lives."""

    build: Callable[[], dict[str, Any]]
    path: Path

    @classmethod
    def of(cls, model: type[BaseModel], filename: str) -> ShippedSchema:
        """Ship ``model``'s plain schema as ``llmops/schemas/<filename>``."""
        return cls(partial(model_schema, model), SCHEMA_DIR / filename)

    def text(self) -> str:
        """Return the schema as the shipped file's text."""
        return schema_text(self.build())

    def write(self, path: Path | None = None) -> Path:
        """Regenerate the shipped schema file (or write it to ``path``)."""
        return write_schema(self.build(), path or self.path)
