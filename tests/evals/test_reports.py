"""Outputs: results JSON with lineage, JUnit XML (parsed), Markdown summary, HTML, step summary."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    # The dashboard's single-run view: its data and its script inline, nothing fetched.
    assert (
        html.count("<script") == 2 and '<script type="application/json" id="llmops-data">' in html
    )
    assert "connect-src 'none'" in html
    for external in ("src=", "href=", "@import", "url("):
        assert external not in html
    # The answer's markup is data, escaped inside the JSON (the page shows it as text).
    assert "<script>alert" not in html and "\\u003cscript\\u003ealert(1)" in html
    assert '"q3"' in html and "hallucination" in html


def test_baseline_refuses_partial_runs(run: RunResult, tmp_path: Path) -> None:
    from llmops.errors import StateError

    data = write_baseline(run, tmp_path / "b.json")
    assert data["metrics"]["contains"]["mean"] == pytest.approx(5 / 6, abs=1e-6)
    run.partial = True
    with pytest.raises(StateError):
        write_baseline(run, tmp_path / "c.json")


SECRET_KEY = "sk-live-4f9a8b7c6d5e4f3a2b1c"
URL_PASSWORD = "hunter2-pass"


def test_eval_run_appends_to_the_history_and_report_build_reads_it(
    cli: Callable[..., Any],
    project: Project,
    llm: ScriptedLLMServer,
    make_suite: Callable[..., Path],
) -> None:
    import subprocess

    from llmops.dashboard import History

    subprocess.run(["git", "init", "-q", str(project.root)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(project.root),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "one",
        ],
        check=True,
    )
    from llmops.dashboard import build_payload

    llm.set_responder(knowing_responder)
    make_suite()
    result = cli("eval", "run", "evals/facts.yaml", "--json", cwd=project.root)
    assert result.exit_code == 0, result.stderr
    results = Path(json.loads(result.stdout)["suites"][0]["results"])
    assert (
        cli(
            "eval", "baseline", "evals/facts.yaml", "--from", str(results), cwd=project.root
        ).exit_code
        == 0
    )
    result = cli("eval", "run", "evals/facts.yaml", "--refresh", cwd=project.root)
    assert result.exit_code == 0, result.stderr
    history = History.for_state(project.settings().state_path)
    runs = history.runs("facts")
    assert len(runs) == 2
    (suite,) = build_payload(history)["suites"]
    assert suite["baseline"]["created_at"] == runs[0].finished_at  # the baseline's run is marked
    compared = suite["comparisons"][0]
    assert compared["baseline"]["label"].startswith("committed baseline")
    assert compared["refused"] is None and compared["verdict"] == "pass"
    assert runs[-1].gate["baseline"] is True
    lineage = runs[-1].lineage
    assert lineage["dataset_hash"] and lineage["git_commit"] and lineage["llmops_version"]
    assert lineage["upstream_model"] == "test-model"
    out = project.root / "site"
    built = cli(
        "report", "build", "--suite", "facts", "--out", str(out), "--json", cwd=project.root
    )
    assert built.exit_code == 0, built.stderr
    doc = json.loads(built.stdout)
    assert doc["runs"] == 2 and doc["suites"] == ["facts"] and doc["bytes"] < 1_000_000
    summary = (out / "summary.md").read_text()
    assert summary.startswith("## llmops eval: `facts`") and "| contains |" in summary
    unknown = cli("report", "build", "--suite", "fact", "--out", str(out), cwd=project.root)
    assert unknown.exit_code != 0 and "did you mean 'facts'" in unknown.stderr
    listed = cli("report", "runs", "--json", cwd=project.root)
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [r.run_id for r in runs]


def test_secrets_never_reach_a_report(
    cli: Callable[..., Any],
    project: Project,
    llm: ScriptedLLMServer,
    make_suite: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llmops.dashboard import History, build_payload
    from llmops.dashboard.runs import ItemQuery

    def leaky(body: dict) -> Reply:  # type: ignore[type-arg]
        reply = knowing_responder(body)
        if "zorb" in str(body["messages"]):
            return Reply(
                content=f"The zorb is blue. (debug: key={SECRET_KEY}, see "
                f"https://u:{URL_PASSWORD}@example.invalid/x?api_key=abc123secret)"
            )
        return reply

    llm.set_responder(leaky)
    monkeypatch.setenv("LLMOPS_JUDGE_API_KEY", SECRET_KEY)
    monkeypatch.setenv(
        "LLMOPS_JUDGE_BASE_URL", llm.base_url.replace("://", f"://judge:{URL_PASSWORD}@")
    )
    monkeypatch.setenv("LLMOPS_JUDGE_MODEL", "judge-model")
    make_suite()
    result = cli("eval", "run", "evals/facts.yaml", "--json", cwd=project.root)
    assert result.exit_code == 0, result.stderr
    folder = Path(json.loads(result.stdout)["suites"][0]["report"]).parent
    out = project.root / "site"
    assert cli("report", "build", "--out", str(out), cwd=project.root).exit_code == 0
    history = History.for_state(project.settings().state_path)
    run_id = history.runs()[0].run_id
    served = json.dumps(
        [
            build_payload(history),
            history.page(run_id, ItemQuery(), limit=100)[0],
            [history.item(run_id, i) for i in range(8)],
        ]
    )
    texts = {p.name: p.read_text() for p in [*folder.iterdir(), *out.iterdir()]}
    texts["served"] = served
    for name, text in texts.items():
        for secret in (SECRET_KEY, URL_PASSWORD, "abc123secret"):
            assert secret not in text, (name, secret)
    assert "[redacted]" in texts["report.html"] and "[redacted]" in texts["results.json"]
    assert "The zorb is blue." in texts["results.json"]  # the rest of the answer is kept
