"""The JSON Schema of the pipeline format, generated from the pydantic model and shipped."""

from __future__ import annotations

from typing import Any

from llmops.rag.spec import PipelineSpec
from llmops.schema_files import SCHEMA_DIR, ShippedSchema, model_schema

__all__ = ["SCHEMA_PATH", "SHIPPED", "pipeline_schema", "schema_text", "write_schema"]


def pipeline_schema() -> dict[str, Any]:
    """Return the JSON Schema of a pipeline file."""
    return model_schema(PipelineSpec)


SHIPPED = ShippedSchema(pipeline_schema, SCHEMA_DIR / "pipeline.schema.json")
SCHEMA_PATH = SHIPPED.path
schema_text = SHIPPED.text
write_schema = SHIPPED.write


if __name__ == "__main__":  # python -m llmops.rag.schema
    print(write_schema())
