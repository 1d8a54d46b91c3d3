"""The JSON Schema of serving/gateway.yaml, generated from the pydantic model and shipped."""

from __future__ import annotations

from typing import Any

from llmops.gateway.config import GatewayConfig
from llmops.schema_files import SCHEMA_DIR, ShippedSchema, model_schema

__all__ = ["SCHEMA_PATH", "SHIPPED", "gateway_schema", "schema_text", "write_schema"]


def gateway_schema() -> dict[str, Any]:
    """Return the JSON Schema of a gateway config file."""
    return model_schema(GatewayConfig)


SHIPPED = ShippedSchema(gateway_schema, SCHEMA_DIR / "gateway.schema.json")
SCHEMA_PATH = SHIPPED.path
schema_text = SHIPPED.text
write_schema = SHIPPED.write


if __name__ == "__main__":  # python -m llmops.gateway.schema
    print(write_schema())
