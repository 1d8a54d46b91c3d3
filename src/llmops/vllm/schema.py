"""The JSON Schema of serving/vllm/*.yaml, generated from the pydantic model and shipped."""

from __future__ import annotations

from llmops.schema_files import ShippedSchema
from llmops.vllm.profile import VllmProfile

__all__ = ["SCHEMA_PATH", "SHIPPED", "profile_schema", "schema_text"]

SHIPPED = ShippedSchema.of(VllmProfile, "vllm-profile.schema.json")
SCHEMA_PATH, schema_text, profile_schema = SHIPPED.path, SHIPPED.text, SHIPPED.build

if __name__ == "__main__":  # python -m llmops.vllm.schema
    print(SHIPPED.write())
