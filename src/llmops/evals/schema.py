"""The JSON Schema of the suite format, generated from the pydantic model and shipped.

Regenerate with ``python -m llmops.evals.schema``; a test fails when the shipped file drifts.
Metric ``type`` is listed as an enum of the registered types so editors can complete it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmops.evals.metrics.base import available_metrics
from llmops.evals.suite import Suite
from llmops.evals.targets import available_targets

__all__ = ["SCHEMA_PATH", "schema_text", "suite_schema", "write_schema"]

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "suite.schema.json"


def suite_schema() -> dict[str, Any]:
    """Return the JSON Schema of a suite file."""
    schema = Suite.model_json_schema(by_alias=True, mode="validation")
    defs = schema.get("$defs", {})
    defs["MetricSpec"]["properties"]["type"]["enum"] = available_metrics()
    defs["TargetSpec"]["properties"]["type"]["enum"] = available_targets()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "llmops eval suite",
        **schema,
    }


def schema_text() -> str:
    """Return the schema as the shipped file's text."""
    return json.dumps(suite_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    """Regenerate the shipped schema file."""
    path.write_text(schema_text(), encoding="utf-8")
    return path


if __name__ == "__main__":  # python -m llmops.evals.schema
    print(write_schema())
