"""The JSON Schema of the prompt format, generated from the pydantic model and shipped."""

from __future__ import annotations

from llmops.prompts.model import PromptFile
from llmops.schema_files import ShippedSchema

__all__ = ["SCHEMA_PATH", "SHIPPED", "prompt_schema", "schema_text"]

SHIPPED = ShippedSchema.of(PromptFile, "prompt.schema.json")
SCHEMA_PATH, schema_text, prompt_schema = SHIPPED.path, SHIPPED.text, SHIPPED.build

if __name__ == "__main__":  # python -m llmops.prompts.schema
    print(SHIPPED.write())
