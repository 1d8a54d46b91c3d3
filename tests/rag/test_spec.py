"""The pipeline file format: errors with file:line and did-you-mean, the shipped schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from llmops.errors import ConfigError
from llmops.rag import PipelineSpec
from llmops.rag.schema import SCHEMA_PATH, schema_text
from llmops.validation import load_yaml_model


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        (
            "name: a\nsources:\n  - path: d\nchunkng:\n  chunk_size: 10\n",
            4,
            "did you mean 'chunking'",
        ),
        ("name: a\nsources:\n  - path: d\n    inclde: ['*.md']\n", 4, "did you mean 'include'"),
        ("name: a\nsources:\n  - type: web\n", 3, "sources.0.type"),
        ("name: a\nsources:\n  - type: directory\n", 3, "needs 'path'"),
        ("name: a\nsources: []\n", 2, "sources"),
        (
            "name: a\nsources:\n  - path: d\nchunking:\n  chunk_size: 50\n  chunk_overlap: 60\n",
            4,
            "overlap",
        ),
        ("name: bad name!\nsources:\n  - path: d\n", 1, "letters, digits"),
        ("sources:\n  - path: d\n", None, "missing required key 'name'"),
        ("name: a\nsources:\n  - path: d\nstore:\n  retention: 0\n", 5, "store.retention"),
    ],
)
def test_invalid_pipeline_files(tmp_path: Path, text: str, line: int | None, needle: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_yaml_model(path, PipelineSpec)
    assert needle in err.value.message
    assert err.value.file == str(path)
    if line is not None:
        assert err.value.line == line


def test_shipped_schema_is_up_to_date() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "run: python -m llmops.rag.schema"
    )


def _pipeline_files(repo_root: Path) -> list[Path]:
    scaffold = repo_root / "src" / "llmops" / "_data" / "scaffold" / "rag_pipelines"
    return sorted((repo_root / "rag_pipelines").glob("*.yaml")) + sorted(scaffold.glob("*.yaml"))


def test_shipped_pipelines_validate_against_model_and_schema(repo_root: Path) -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    files = _pipeline_files(repo_root)
    assert {p.stem for p in files} >= {"python-docs", "example"}
    for path in files:
        load_yaml_model(path, PipelineSpec)
        jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), schema)


def test_pipeline_hash_ignores_operational_settings() -> None:
    base: dict[str, Any] = {"name": "a", "sources": [{"path": "d"}]}
    spec = PipelineSpec.model_validate(base)
    tuned = PipelineSpec.model_validate(
        {**base, "embedding": {"batch_size": 64}, "store": {"retention": 9, "upsert_batch": 5}}
    )
    resized = PipelineSpec.model_validate({**base, "chunking": {"chunk_size": 100}})
    assert spec.content_hash("m") == tuned.content_hash("m")
    assert spec.content_hash("m") != resized.content_hash("m")
    assert spec.content_hash("m") != spec.content_hash("other-model")


@pytest.mark.slow
def test_scaffolded_project_builds_and_answers(tmp_path: Path, cli: Any) -> None:
    res = cli("init", str(tmp_path / "app"))
    assert res.exit_code == 0, res.stderr
    project = tmp_path / "app"
    res = cli("index", "run", "example", "--json", cwd=project)
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["counts"]["documents"] == 2
    res = cli("query", "example", "how do I go back to the previous index?", "--json", cwd=project)
    doc = json.loads(res.stdout)
    assert doc["chunks"][0]["source"] == "deploying.md"
    assert doc["chunks"][0]["heading_path"] == ["Deploying the service", "Rolling back"]
