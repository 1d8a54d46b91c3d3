"""The JSON Schema of the prompt format, generated from the pydantic model and shipped."""

from __future__ import annotations

from typing import Any

from llmops.prompts.model import PromptFile
from llmops.schema_files import SCHEMA_DIR, ShippedSchema, model_schema

__all__ = ["SCHEMA_PATH", "SHIPPED", "prompt_schema", "schema_text", "write_schema"]


def prompt_schema() -> dict[str, Any]:
    """Return the JSON Schema of a prompt file."""
    return model_schema(PromptFile)


SHIPPED = ShippedSchema(prompt_schema, SCHEMA_DIR / "prompt.schema.json")
SCHEMA_PATH = SHIPPED.path
schema_text = SHIPPED.text
write_schema = SHIPPED.write


if __name__ == "__main__":  # python -m llmops.prompts.schema
    print(write_schema())
