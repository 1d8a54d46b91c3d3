"""The JSON Schema of the suite format, generated from the pydantic model and shipped.

Regenerate with ``python -m llmops.evals.schema``; a test fails when a shipped file drifts.
The JSON Schema of one golden-set line ships beside it (``golden-record.schema.json``).
Metric ``type`` is listed as an enum of the registered types so editors can complete it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmops import schema_files
from llmops.evals.metrics.base import available_metrics
from llmops.evals.suite import Suite
from llmops.evals.targets import available_targets
from llmops.schema_files import SCHEMA_DIR, model_schema

__all__ = [
    "GOLDEN_SCHEMA_PATH",
    "SCHEMA_PATH",
    "golden_schema_text",
    "schema_text",
    "suite_schema",
    "write_schema",
]

SCHEMA_PATH = SCHEMA_DIR / "suite.schema.json"
GOLDEN_SCHEMA_PATH = SCHEMA_DIR / "golden-record.schema.json"


def suite_schema() -> dict[str, Any]:
    """Return the JSON Schema of a suite file."""
    schema = model_schema(Suite, title="llmops eval suite")
    defs = schema.get("$defs", {})
    defs["MetricSpec"]["properties"]["type"]["enum"] = available_metrics()
    defs["TargetSpec"]["properties"]["type"]["enum"] = available_targets()
    return schema


def schema_text() -> str:
    """Return the schema as the shipped file's text."""
    return schema_files.schema_text(suite_schema())


def golden_schema_text() -> str:
    """Return the golden-record schema as the shipped file's text."""
    from llmops.evals.golden import golden_record_schema

    return schema_files.schema_text(golden_record_schema())


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    """Regenerate the shipped schema file."""
    return schema_files.write_schema(suite_schema(), path)


if __name__ == "__main__":  # python -m llmops.evals.schema
    from llmops.evals.golden import golden_record_schema

    print(write_schema())
    print(schema_files.write_schema(golden_record_schema(), GOLDEN_SCHEMA_PATH))
