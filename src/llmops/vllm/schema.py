"""The JSON Schema of serving/vllm/*.yaml, generated from the pydantic model and shipped."""

from __future__ import annotations

from typing import Any

from llmops.schema_files import SCHEMA_DIR, ShippedSchema, model_schema
from llmops.vllm.profile import VllmProfile

__all__ = ["SCHEMA_PATH", "SHIPPED", "profile_schema", "schema_text", "write_schema"]


def profile_schema() -> dict[str, Any]:
    """Return the JSON Schema of a vLLM launch profile."""
    return model_schema(VllmProfile)


SHIPPED = ShippedSchema(profile_schema, SCHEMA_DIR / "vllm-profile.schema.json")
SCHEMA_PATH = SHIPPED.path
schema_text = SHIPPED.text
write_schema = SHIPPED.write


if __name__ == "__main__":  # python -m llmops.vllm.schema
    print(write_schema())
