"""The JSON Schema of the model spec format, generated from the pydantic model and shipped."""

from __future__ import annotations

from typing import Any

from llmops.mlmodels.spec import ModelSpec
from llmops.schema_files import SCHEMA_DIR, ShippedSchema, model_schema

__all__ = ["SCHEMA_PATH", "SHIPPED", "model_spec_schema", "schema_text", "write_schema"]


def model_spec_schema() -> dict[str, Any]:
    """Return the JSON Schema of a model spec file."""
    return model_schema(ModelSpec)


SHIPPED = ShippedSchema(model_spec_schema, SCHEMA_DIR / "model-spec.schema.json")
SCHEMA_PATH = SHIPPED.path
schema_text = SHIPPED.text
write_schema = SHIPPED.write


if __name__ == "__main__":  # python -m llmops.mlmodels.schema
    print(write_schema())
