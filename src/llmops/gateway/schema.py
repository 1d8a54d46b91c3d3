"""The JSON Schema of serving/gateway.yaml, generated from the pydantic model and shipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmops import schema_files
from llmops.gateway.config import GatewayConfig
from llmops.schema_files import SCHEMA_DIR, model_schema

__all__ = ["SCHEMA_PATH", "gateway_schema", "schema_text", "write_schema"]

SCHEMA_PATH = SCHEMA_DIR / "gateway.schema.json"


def gateway_schema() -> dict[str, Any]:
    """Return the JSON Schema of a gateway config file."""
    return model_schema(GatewayConfig)


def schema_text() -> str:
    """Return the schema as the shipped file's text."""
    return schema_files.schema_text(gateway_schema())


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    """Regenerate the shipped schema file."""
    return schema_files.write_schema(gateway_schema(), path)


if __name__ == "__main__":  # python -m llmops.gateway.schema
    print(write_schema())
