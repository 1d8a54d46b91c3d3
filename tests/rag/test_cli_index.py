"""`llmops index run|status|rollback|export-sample` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


def test_run_status_and_change_detection(project: Path, cli: Any) -> None:
    res = cli("index", "run", "docs", cwd=project)
    assert res.exit_code == 0, res.stderr
    assert "embedded" in res.stdout and "switched" in res.stdout
    res = cli("index", "status", "docs", "--json", cwd=project)
    doc = json.loads(res.stdout)
    assert doc["served_version"] and doc["sources_changed"] is False
    assert doc["served_for_seconds"] is not None and doc["chunks"] > 0
    (project / "docs" / "notes.txt").write_text("changed\n", encoding="utf-8")
    res = cli("index", "status", "docs", cwd=project)
    assert "changed since build: 1 changed" in res.stdout
    res = cli("index", "run", "docs", "--json", cwd=project)
    out = json.loads(res.stdout)
    assert out["switched"] and out["counts"]["embedded"] == 1
    assert out["previous_version"] == doc["served_version"]
    res = cli("index", "rollback", "docs", cwd=project)
    assert res.exit_code == 0 and f"now serving {doc['served_version']}" in res.stdout


def test_errors_are_one_line_with_hints(project: Path, cli: Any) -> None:
    res = cli("index", "run", "nope", cwd=project)
    assert res.exit_code == 2 and "no pipeline 'nope'" in res.stderr
    bad = project / "rag_pipelines" / "bad.yaml"
    bad.write_text("name: bad\nsources:\n  - path: docs\n    exclud: []\n", encoding="utf-8")
    res = cli("index", "run", "bad", cwd=project)
    assert (
        res.exit_code == 2 and f"{bad}:4" in res.stderr and "did you mean 'exclude'" in res.stderr
    )
    res = cli("index", "rollback", "docs", cwd=project)
    assert res.exit_code == 2 and "no older version" in res.stderr


def test_export_sample(tmp_path: Path, cli: Any) -> None:
    res = cli("index", "export-sample", "--to", str(tmp_path / "c"), "--json", cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["topics"] >= 70 and doc["modules"] >= 40
    text = (tmp_path / "c" / "topics" / "global.md").read_text(encoding="utf-8")
    assert text.startswith("---\ntopic: global\n") and '# The "global" statement' in text
