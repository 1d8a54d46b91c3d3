"""The JSON Schema of the model spec format, generated from the pydantic model and shipped."""

from __future__ import annotations

from llmops.mlmodels.spec import ModelSpec
from llmops.schema_files import ShippedSchema

__all__ = ["SCHEMA_PATH", "SHIPPED", "model_spec_schema", "schema_text"]

SHIPPED = ShippedSchema.of(ModelSpec, "model-spec.schema.json")
SCHEMA_PATH, schema_text, model_spec_schema = SHIPPED.path, SHIPPED.text, SHIPPED.build

if __name__ == "__main__":  # python -m llmops.mlmodels.schema
    print(SHIPPED.write())
