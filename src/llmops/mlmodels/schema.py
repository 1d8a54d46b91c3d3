"""The JSON Schema of the model spec format, generated from the pydantic model and shipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmops import schema_files
from llmops.mlmodels.spec import ModelSpec
from llmops.schema_files import SCHEMA_DIR, model_schema

__all__ = ["SCHEMA_PATH", "model_spec_schema", "schema_text", "write_schema"]

SCHEMA_PATH = SCHEMA_DIR / "model-spec.schema.json"


def model_spec_schema() -> dict[str, Any]:
    """Return the JSON Schema of a model spec file."""
    return model_schema(ModelSpec)


def schema_text() -> str:
    """Return the schema as the shipped file's text."""
    return schema_files.schema_text(model_spec_schema())


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    """Regenerate the shipped schema file."""
    return schema_files.write_schema(model_spec_schema(), path)


if __name__ == "__main__":  # python -m llmops.mlmodels.schema
    print(write_schema())
