"""The single-run HTML report shows an eval suite's slice gate (``slices:``) in real Chromium:
slice sizes, every check, the failed one naming its slice, too-small slices marked."""

from __future__ import annotations

from pathlib import Path

from dash_browser import Tab

from llmops.evals.gate import apply_gate, summarize
from llmops.evals.metrics.base import create_metric
from llmops.evals.records import ItemRow, MetricResult, RunResult, TargetOutput
from llmops.evals.report import to_html
from llmops.evals.suite import GateSpec, MetricSpec, SliceSpec


def _sliced_run() -> RunResult:
    """30 items per healthy slice at 0.9, 30 collapsed (group=c) at 0.1, 4 in a tiny slice."""
    sizes = {"a": 30, "b": 30, "c": 30, "tiny": 4}
    rows = [
        ItemRow(
            id=f"{group}-{i}",
            input=f"question {group} {i}",
            attributes={"group": group},
            output=TargetOutput(answer="answer"),
            metrics={"rouge-l": MetricResult.scored(0.1 if group == "c" else 0.9, 0.5)},
        )
        for group, size in sizes.items()
        for i in range(size)
    ]
    run = RunResult(suite="sliced", started_at="2026-12-06T00:00:00+00:00", items=94, rows=rows)
    metric = create_metric(MetricSpec.model_validate({"type": "rouge-l"}))
    spec = SliceSpec.model_validate(
        {"by": ["group"], "min_items": 10, "rules": [{"metric": "rouge-l", "min": 0.5}]}
    )
    summarize(run, [metric], GateSpec())
    apply_gate(run, [metric], GateSpec(), None, slices=spec)
    return run


def test_report_shows_the_slice_gate(tab: Tab, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text(to_html(_sliced_run()), encoding="utf-8")
    page = tab.page
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready]")
    page.click("button[data-tab=slices]")
    page.wait_for_selector("body[data-ready=slices]")
    table = page.locator("table.slice-gate[data-suite=sliced]")
    assert table.locator("tr[data-status=fail]").count() == 1
    failed = table.locator("tr[data-status=fail]").inner_text()
    assert "group=c" in failed and "30" in failed
    assert "group=tiny" in table.locator('tr[data-status="too few items"]').inner_text()
    assert table.locator("tr[data-status=pass]").count() == 2
    assert "a n=30, b n=30, c n=30, tiny n=4" in page.locator("#app").inner_text()
    tab.shot("slice-gate")
    assert tab.errors == [], tab.errors
