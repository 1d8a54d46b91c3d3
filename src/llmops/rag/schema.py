"""The JSON Schema of the pipeline format, generated from the pydantic model and shipped."""

from __future__ import annotations

from llmops.rag.spec import PipelineSpec
from llmops.schema_files import ShippedSchema

__all__ = ["SCHEMA_PATH", "SHIPPED", "pipeline_schema", "schema_text"]

SHIPPED = ShippedSchema.of(PipelineSpec, "pipeline.schema.json")
SCHEMA_PATH, schema_text, pipeline_schema = SHIPPED.path, SHIPPED.text, SHIPPED.build

if __name__ == "__main__":  # python -m llmops.rag.schema
    print(SHIPPED.write())
