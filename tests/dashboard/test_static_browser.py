"""The static dashboard in a real headless Chromium: loads offline with no console error, draws
its charts, filters, drills down, refuses the incomparable comparison, and never runs data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dash_browser import Tab
from dash_helpers import baseline_doc, make_run
from playwright.sync_api import expect

from llmops.dashboard import History, build_payload, write_dashboard

HOSTILE = (
    ' <img src="http://198.51.100.7/x.png" onerror="alert(1)"></script><script>alert(2)</script>'
)


@pytest.fixture
def site(history: History, tmp_path: Path) -> Path:
    first = make_run(30, seed=5, suite="hostile", started="2026-12-01T00:00:00+00:00")
    history.record(first)
    history.record(
        make_run(
            30, seed=6, suite="hostile", started="2026-12-02T00:00:00+00:00", answer_extra=HOSTILE
        ),
        baseline=baseline_doc(first),
    )
    return write_dashboard(build_payload(history), tmp_path / "site").html


def _open(tab: Tab, site: Path, view: str = "overview") -> Any:
    """Open the dashboard at ``view`` (a tab's ``data-tab``), once it has drawn."""
    page = tab.page
    page.goto(site.as_uri())
    page.wait_for_selector("body[data-ready=overview]")
    if view != "overview":
        _show(page, view)
    return page


def _show(page: Any, view: str) -> None:
    page.click(f"button[data-tab={view}]")
    page.wait_for_selector(f"body[data-ready={view}]")


def _clean(tab: Tab) -> None:
    assert tab.errors == [], tab.errors
    assert tab.outside() == [], tab.outside()
    assert tab.dialogs == []


def test_overview_draws_charts_and_links_points_to_runs(
    tab: Tab, site: Path, history: History
) -> None:
    page = _open(tab, site)
    assert page.locator("svg.chart").count() >= 6
    assert page.locator("svg.chart circle.pt").count() >= 12
    assert page.locator("svg.chart line.thr").count() >= 6
    first = history.runs("support")[0]
    page.locator(f'circle.pt[data-run="{first.run_id}"]').first.click()
    card = page.locator("#run-card-support #run-card")
    assert first.run_id in card.inner_text()
    assert "support@3" in card.inner_text() and "dddddddddddd" in card.inner_text()
    tab.shot("overview")
    _clean(tab)
    assert tab.requests == [site.as_uri()]  # the file itself and nothing else


def test_incomparable_runs_are_refused_not_plotted(tab: Tab, site: Path) -> None:
    page = _open(tab, site, "compare")
    refused = page.locator('.comparison[data-verdict="refused"]')
    assert refused.count() == 1
    assert "different dataset" in refused.locator(".refusal").inner_text()
    assert refused.locator("svg").count() == 0 and refused.locator("table").count() == 0
    compared = page.locator('.comparison[data-verdict="fail"]')
    assert compared.count() >= 1
    assert "regressed" in compared.first.inner_text()
    assert compared.first.locator("svg.chart circle.pt").count() == 2  # one interval per metric
    tab.shot("compare")
    _clean(tab)


def test_filters_change_the_visible_rows_and_drill_down_opens(tab: Tab, site: Path) -> None:
    page = _open(tab, site, "items")
    page.select_option("select >> nth=0", "support")
    page.wait_for_selector("#items tr.row")
    rows = page.locator("#items tr.row")
    before = page.locator("#item-count").inner_text()
    assert rows.count() == 50 and "of 480 matching" in before
    page.select_option("select[data-filter=tag]", "returns")
    expect(page.locator("#item-count")).to_contain_text("of 120 matching")
    tags = page.locator("#items tr.row td:nth-child(4)").all_inner_texts()
    assert tags and all(t == "returns" for t in tags)
    page.select_option("select[data-filter=status]", "fail")
    page.select_option("select[data-filter=metric]", "contains")
    failing = int(page.locator("#item-count").inner_text().split(" of ")[1].split()[0])
    assert 0 < failing < 120
    page.check("input[data-filter=flaky]")
    flaky_text = page.locator("#item-count").inner_text()
    assert all(
        "flaky" in t for t in page.locator("#items tr.row td:nth-child(1)").all_inner_texts()
    )
    page.uncheck("input[data-filter=flaky]")
    page.select_option("select[data-filter=status]", "")
    page.fill("input[data-filter=q]", "number 18 ")
    expect(page.locator("#item-count")).to_have_text("showing 2 of 2 matching items")
    assert flaky_text != page.locator("#item-count").inner_text()
    page.locator("#items tr.row").first.click()
    drawer = page.locator("#drawer")
    drawer.wait_for()
    text = drawer.inner_text()
    for needle in (
        "Question number 18 about returns?",
        "Answer 18",
        "Reference answer 18.",
        "doc18#0",
        "score 0.800",
        "faithfulness",
        "claims supported",
        "Lineage",
        "judge-model",
    ):
        assert needle in text, needle
    drawer.locator("summary").first.click()
    assert '"verdict": "supported"' in drawer.inner_text()  # the judge's reasoning
    tab.shot("drilldown")
    _clean(tab)


def test_slices_and_calibration_render(tab: Tab, site: Path) -> None:
    page = _open(tab, site, "slices")
    assert page.locator("svg.chart circle.pt").count() >= 8
    returns = page.locator("table.slices[data-suite=support] tr", has_text="returns").first
    assert returns.locator("td.fail").count() >= 1  # the slice that regressed is marked
    tab.shot("slices")
    _show(page, "calibration")
    assert page.locator("table.cm").count() >= 1
    assert page.locator("svg.chart circle.pt").count() >= 4
    tab.shot("calibration")
    _clean(tab)


def test_hostile_answers_are_shown_as_text_never_run(tab: Tab, site: Path) -> None:
    html = site.read_text()
    assert "<script>alert" not in html and "<img src=" not in html
    page = _open(tab, site, "items")
    page.select_option("select >> nth=0", "hostile")
    page.locator("#items tr.row").first.click()
    answer = page.locator("#drawer pre.answer")
    answer.wait_for()
    assert "<script>alert(2)</script>" in answer.inner_text()
    assert page.locator("#drawer img").count() == 0
    _clean(tab)  # no dialog, no request to the image's host
