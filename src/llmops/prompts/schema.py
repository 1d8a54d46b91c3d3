"""The JSON Schema of the prompt format, generated from the pydantic model and shipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmops import schema_files
from llmops.prompts.model import PromptFile
from llmops.schema_files import SCHEMA_DIR, model_schema

__all__ = ["SCHEMA_PATH", "prompt_schema", "schema_text", "write_schema"]

SCHEMA_PATH = SCHEMA_DIR / "prompt.schema.json"


def prompt_schema() -> dict[str, Any]:
    """Return the JSON Schema of a prompt file."""
    return model_schema(PromptFile)


def schema_text() -> str:
    """Return the schema as the shipped file's text."""
    return schema_files.schema_text(prompt_schema())


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    """Regenerate the shipped schema file."""
    return schema_files.write_schema(prompt_schema(), path)


if __name__ == "__main__":  # python -m llmops.prompts.schema
    print(write_schema())
