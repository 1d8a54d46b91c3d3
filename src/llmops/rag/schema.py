"""The JSON Schema of the pipeline format, generated from the pydantic model and shipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmops.rag.spec import PipelineSpec

__all__ = ["SCHEMA_PATH", "pipeline_schema", "schema_text", "write_schema"]

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "pipeline.schema.json"


def pipeline_schema() -> dict[str, Any]:
    """Return the JSON Schema of a pipeline file."""
    schema = PipelineSpec.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    """Return the schema as the shipped file's text."""
    return json.dumps(pipeline_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    """Regenerate the shipped schema file."""
    path.write_text(schema_text(), encoding="utf-8")
    return path


if __name__ == "__main__":  # python -m llmops.rag.schema
    print(write_schema())
