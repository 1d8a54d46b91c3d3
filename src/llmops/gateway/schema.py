"""The JSON Schema of serving/gateway.yaml, generated from the pydantic model and shipped."""

from __future__ import annotations

from llmops.gateway.config import GatewayConfig
from llmops.schema_files import ShippedSchema

__all__ = ["SCHEMA_PATH", "SHIPPED", "gateway_schema", "schema_text"]

SHIPPED = ShippedSchema.of(GatewayConfig, "gateway.schema.json")
SCHEMA_PATH, schema_text, gateway_schema = SHIPPED.path, SHIPPED.text, SHIPPED.build

if __name__ == "__main__":  # python -m llmops.gateway.schema
    print(SHIPPED.write())
