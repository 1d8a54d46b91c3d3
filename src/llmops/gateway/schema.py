"""The JSON Schema of serving/gateway.yaml, generated from the pydantic model and shipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmops.gateway.config import GatewayConfig

__all__ = ["SCHEMA_PATH", "gateway_schema", "schema_text", "write_schema"]

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "gateway.schema.json"


def gateway_schema() -> dict[str, Any]:
    """Return the JSON Schema of a gateway config file."""
    schema = GatewayConfig.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    """Return the schema as the shipped file's text."""
    return json.dumps(gateway_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    """Regenerate the shipped schema file."""
    path.write_text(schema_text(), encoding="utf-8")
    return path


if __name__ == "__main__":  # python -m llmops.gateway.schema
    print(write_schema())
