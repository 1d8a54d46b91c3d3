"""What ships: the suite JSON Schema, the scaffold's suite and golden set, the python-docs suite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmops.evals import load_suite
from llmops.evals.schema import RESULTS_SHIPPED, SCHEMA_PATH, schema_text


def test_shipped_schema_is_up_to_date() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "regenerate it: python -m llmops.evals.schema"
    )


def test_shipped_results_schema_is_up_to_date() -> None:
    assert RESULTS_SHIPPED.path.read_text(encoding="utf-8") == RESULTS_SHIPPED.text(), (
        "regenerate it: python -m llmops.evals.schema"
    )


def test_schema_validates_the_shipped_suites(repo_root: Path) -> None:
    import jsonschema
    import yaml

    schema = json.loads(SCHEMA_PATH.read_text())
    for path in [
        repo_root / "evals/python-docs.yaml",
        repo_root / "src/llmops/_data/scaffold/evals/example.yaml",
    ]:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"dataset": "x", "target": {}, "metrics": [{"type": "nope"}]}, schema)


def test_scaffolded_project_validates(cli: Any, tmp_path: Path) -> None:
    assert cli("init", str(tmp_path / "p")).exit_code == 0
    result = cli("eval", "validate", cwd=tmp_path / "p")
    assert result.exit_code == 0, result.stderr
    assert "example: ok (5 records" in result.stdout


def test_python_docs_suite_resolves_its_prompts(repo_root: Path) -> None:
    from llmops.config import load_settings
    from llmops.prompts import load_registry

    suite = load_suite(repo_root / "evals/python-docs.yaml")
    registry = load_registry(load_settings(repo_root))
    assert suite.target.prompt is not None
    registry.get(suite.target.prompt)
    for metric in suite.metrics:
        if metric.type == "judge":
            registry.get(str(metric.value))
    assert suite.baseline_path == repo_root / "evals/baselines/python-docs.json"


def test_example_workflow_uses_real_flags(cli: Any, repo_root: Path) -> None:
    import re

    import yaml

    workflow = yaml.safe_load((repo_root / ".github/workflows/llmops-eval.yml").read_text())
    steps = workflow["jobs"]["eval"]["steps"]
    command = next(s["run"] for s in steps if "llmops eval run" in str(s.get("run")))
    flags = set(re.findall(r"(--[a-z-]+)", command))
    assert {"--gate", "--changed-since", "--junit", "--out"} <= flags
    help_text = cli("eval", "run", "--help").stdout
    for flag in flags:
        assert flag in help_text, flag


def test_committed_baseline_covers_the_shipped_suite(repo_root: Path) -> None:
    from llmops.evals import load_golden_sets

    suite = load_suite(repo_root / "evals/python-docs.yaml")
    baseline = json.loads(suite.baseline_path.read_text())
    golden = load_golden_sets(suite.dataset_files)
    gated = {m.name for m in suite.metrics if m.gate and not m.type.startswith("judge")}
    assert gated <= set(baseline["metrics"])
    ids = {r.id for r in golden}
    # the gate pairs items by id: most of the golden set must be in the baseline
    # (regenerate it with `llmops eval baseline evals/python-docs.yaml` after editing the set)
    covered = set(baseline["metrics"]["hit-at-k"]["items"]) | set(
        baseline["metrics"]["hallucination"]["items"]
    )
    assert len(covered & ids) >= 0.8 * len(ids)
