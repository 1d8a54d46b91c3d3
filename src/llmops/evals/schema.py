"""The JSON Schema of the suite format, generated from the pydantic model and shipped.

Regenerate with ``python -m llmops.evals.schema``; a test fails when a shipped file drifts.
The JSON Schema of one golden-set line ships beside it (``golden-record.schema.json``), and so
does that of a run's ``results.json`` (``results.schema.json``), for the tools that read it.
Metric ``type`` is listed as an enum of the registered types so editors can complete it.
"""

from __future__ import annotations

from typing import Any

from llmops.evals.golden import golden_record_schema
from llmops.evals.metrics.base import available_metrics
from llmops.evals.records import RunResult
from llmops.evals.suite import Suite
from llmops.evals.targets import available_targets
from llmops.schema_files import SCHEMA_DIR, ShippedSchema, model_schema

__all__ = [
    "GOLDEN_SCHEMA_PATH",
    "GOLDEN_SHIPPED",
    "RESULTS_SHIPPED",
    "SCHEMA_PATH",
    "SHIPPED",
    "golden_schema_text",
    "schema_text",
    "suite_schema",
    "write_schema",
]


def suite_schema() -> dict[str, Any]:
    """Return the JSON Schema of a suite file."""
    schema = model_schema(Suite, title="llmops eval suite")
    defs = schema.get("$defs", {})
    defs["MetricSpec"]["properties"]["type"]["enum"] = available_metrics()
    defs["TargetSpec"]["properties"]["type"]["enum"] = available_targets()
    return schema


SHIPPED = ShippedSchema(suite_schema, SCHEMA_DIR / "suite.schema.json")
GOLDEN_SHIPPED = ShippedSchema(golden_record_schema, SCHEMA_DIR / "golden-record.schema.json")
RESULTS_SHIPPED = ShippedSchema.of(RunResult, "results.schema.json")
SCHEMA_PATH = SHIPPED.path
GOLDEN_SCHEMA_PATH = GOLDEN_SHIPPED.path
schema_text = SHIPPED.text
golden_schema_text = GOLDEN_SHIPPED.text
write_schema = SHIPPED.write


if __name__ == "__main__":  # python -m llmops.evals.schema
    print(write_schema())
    print(GOLDEN_SHIPPED.write())
    print(RESULTS_SHIPPED.write())
