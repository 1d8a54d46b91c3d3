"""Outputs: results JSON with lineage, JUnit XML (parsed), Markdown summary, HTML, step summary."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from evals_helpers import Project, knowing_responder

from llmops.evals import RunResult, load_suite, run_suite
from llmops.evals.report import to_junit, to_markdown, write_baseline, write_outputs
from llmops.testing import Reply, ScriptedLLMServer


@pytest.fixture
def run(project: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]) -> RunResult:
    def responder(body: dict) -> Reply:  # type: ignore[type-arg]
        reply = knowing_responder(body)
        if "plinks" in str(body["messages"]):
            return Reply(content="<script>alert(1)</script> Plinks are found in trees.")
        return reply

    llm.set_responder(responder)
    return run_suite(load_suite(make_suite()), project.settings())


def test_junit_has_one_case_per_item_and_metric(run: RunResult) -> None:
    root = ET.fromstring(to_junit(run))
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    # contains + rouge-l on 6 answerable items, hallucination on 2 unanswerable (n/a left out)
    assert len(cases) == 6 + 6 + 2
    assert suite.get("tests") == "14" and suite.get("failures") == "2"
    failed = [c for c in cases if c.find("failure") is not None]
    assert {c.get("name") for c in failed} == {"q3"}
    assert {c.get("classname") for c in failed} == {"facts.contains", "facts.rouge-l"}


def test_markdown_and_step_summary(
    run: RunResult, project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    text = to_markdown(run, report_path="/x/report.html")
    assert "## llmops eval: `facts`" in text
    assert "| contains | 0.833 | 0.833 | 1 |" in text
    assert "Report: `/x/report.html`" in text
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    paths = write_outputs(run, project.settings().state_path)
    assert summary.read_text().startswith("earlier\n## llmops eval: `facts`")
    results = json.loads(paths.results.read_text())
    assert results["lineage"]["dataset_hash"] and results["lineage"]["llmops_version"] == "0.1.0"
    assert all(row["lineage"]["dataset_hash"] for row in results["rows"])
    assert RunResult.model_validate(results).rows[0].id == "q1"


def test_html_is_self_contained_and_escaped(run: RunResult, project: Project) -> None:
    paths = write_outputs(run, project.settings().state_path)
    html = paths.html.read_text()
    assert html.startswith("<!doctype html>")
    assert "<script" not in html and "&lt;script&gt;" in html
    for external in ("src=", "href=", "@import", "url("):
        assert external not in html
    assert "q3" in html and "hallucination" in html


def test_baseline_refuses_partial_runs(run: RunResult, tmp_path: Path) -> None:
    from llmops.errors import StateError

    data = write_baseline(run, tmp_path / "b.json")
    assert data["metrics"]["contains"]["mean"] == pytest.approx(5 / 6, abs=1e-6)
    run.partial = True
    with pytest.raises(StateError):
        write_baseline(run, tmp_path / "c.json")
