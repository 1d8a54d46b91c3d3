"""The JSON Schema of serving/vllm/*.yaml, generated from the pydantic model and shipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmops.vllm.profile import VllmProfile

__all__ = ["SCHEMA_PATH", "profile_schema", "schema_text", "write_schema"]

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "vllm-profile.schema.json"


def profile_schema() -> dict[str, Any]:
    """Return the JSON Schema of a vLLM launch profile."""
    schema = VllmProfile.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    """Return the schema as the shipped file's text."""
    return json.dumps(profile_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    """Regenerate the shipped schema file."""
    path.write_text(schema_text(), encoding="utf-8")
    return path


if __name__ == "__main__":  # python -m llmops.vllm.schema
    print(write_schema())
