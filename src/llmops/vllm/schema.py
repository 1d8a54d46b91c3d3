"""The JSON Schema of serving/vllm/*.yaml, generated from the pydantic model and shipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmops import schema_files
from llmops.schema_files import SCHEMA_DIR, model_schema
from llmops.vllm.profile import VllmProfile

__all__ = ["SCHEMA_PATH", "profile_schema", "schema_text", "write_schema"]

SCHEMA_PATH = SCHEMA_DIR / "vllm-profile.schema.json"


def profile_schema() -> dict[str, Any]:
    """Return the JSON Schema of a vLLM launch profile."""
    return model_schema(VllmProfile)


def schema_text() -> str:
    """Return the schema as the shipped file's text."""
    return schema_files.schema_text(profile_schema())


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    """Regenerate the shipped schema file."""
    return schema_files.write_schema(profile_schema(), path)


if __name__ == "__main__":  # python -m llmops.vllm.schema
    print(write_schema())
