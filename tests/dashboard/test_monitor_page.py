"""The monitor page over the monitors' own results, on real SQLite and PostgreSQL trace stores.

Traces go through the trace writer (its thread, the monitors' enricher and sampler, rollups
written with each batch); sampled answers are scored by the monitor's scorer (groundedness with
the real MiniLM model). Planted unsupported answers must show on the hallucination panel, a
shift of retrieval scores on the drift panel, and every figure must equal ``llmops monitor
report``'s for the same window: the page is a view of the monitors, not a second aggregation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from gateway_fixtures import fresh_database
from monitor_traffic import BLOCKED, HOUR, N_NOW, PLANTED, Monitored, monitored

from llmops.dashboard.monitor_page import MonitorPage, MonitorProvider
from llmops.monitor.queries import Window
from llmops.monitor.report import build_report

NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def sqlite_monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitored]:
    m = monitored(f"sqlite:///{tmp_path_factory.mktemp('traces') / 'traces.db'}", NOW)
    yield m
    m.store.close()


@pytest.fixture(scope="module")
def pg_monitored(postgres_url: str) -> Iterator[Monitored]:
    m = monitored(fresh_database(postgres_url), NOW)
    yield m
    m.store.close()


def _panels(m: Monitored, now: float = NOW) -> dict[str, dict[str, Any]]:
    provider = MonitorProvider(m.store, m.settings, clock=lambda: now)
    return {p["id"]: p for p in MonitorPage(provider, window_s=HOUR).panels()}


def test_the_hallucination_panel_shows_the_scored_planted_rate(sqlite_monitored: Monitored) -> None:
    m = sqlite_monitored
    assert m.planted == PLANTED and m.answered == N_NOW - BLOCKED
    panel = _panels(m)["hallucination"]
    rows = {r["label"]: r for r in panel["rows"]}
    route = rows["qa · unsupported (groundedness)"]
    truth = m.planted / m.answered
    assert route["low"] <= truth <= route["high"], (route, truth)
    assert route["value"] == pytest.approx(truth, abs=0.05)
    version = rows["qa · rag-answer@2"]  # per prompt version
    assert version["value"] == pytest.approx(route["value"], abs=1e-4)  # rounded by the monitor
    assert panel["table"]["rows"][0][3] == m.answered  # scored answers
    # The judge was not configured: its rate is absent (not a 0) and the table says why.
    assert not any("judge" in label for label in rows)


def test_every_panel_equals_the_monitor_report(sqlite_monitored: Monitored) -> None:
    m = sqlite_monitored
    panels = _panels(m)
    report = build_report(m.store, m.settings, Window(NOW - HOUR, NOW), route="qa").routes[0]
    unsupported = report.signal("unsupported_rate")
    (row,) = [r for r in panels["hallucination"]["rows"] if "groundedness" in r["label"]]
    assert (row["value"], row["low"], row["high"]) == pytest.approx(
        (unsupported.value, unsupported.low, unsupported.high)
    )
    drift = {r[1]: r for r in panels["drift"]["table"]["rows"]}
    top1 = report.signal("top1_drift")
    assert top1.status == "drift" and top1.p_value < 0.01
    assert drift["top1_drift"][6] == f"{top1.p_value:.2g}" and drift["top1_drift"][3:5] == [300, 80]
    assert drift["top1_drift"][7].startswith("drifted")
    assert "query_drift" in drift  # no vectors embedded: says so rather than "no drift"
    assert drift["query_drift"][6] == "–" and report.signal("query_drift").status != "no_drift"
    bars = panels["retrieval"]["rows"]
    assert sum(b["value"] for b in bars) == N_NOW
    assert max(bars, key=lambda b: b["value"])["label"] in ("0.40", "0.45")
    (lat,) = panels["latency"]["table"]["rows"]
    p95 = report.signal("latency_p95").value
    assert lat[:2] == ["qa", N_NOW] and lat[3] == f"{p95 * 1000:,.0f} ms"
    (guard,) = panels["guards"]["table"]["rows"]
    blocks = report.signal("guard_block_rate")
    assert guard[:3] == ["qa", BLOCKED, N_NOW] and blocks.value == pytest.approx(0.1)
    arms = {r[1]: r for r in panels["arms"]["table"]["rows"]}
    release = report.signal("release")
    assert set(arms) == {"stable", "canary"} and arms["stable"][6] == "baseline"
    verdict = release.evidence["comparisons"]["canary"]["recommendation"]
    assert arms["canary"][6] == verdict and arms["canary"][2] == N_NOW // 4


def test_an_empty_window_says_no_data(sqlite_monitored: Monitored) -> None:
    panels = _panels(sqlite_monitored, now=NOW + 100 * HOUR)
    assert panels["hallucination"]["rows"] == [] and panels["retrieval"]["rows"] == []
    assert "no sampled answers" in panels["hallucination"]["empty"]
    assert panels["drift"]["table"]["rows"] == [] and "no traffic" in panels["drift"]["empty"]
    assert "0 requests" in panels["drift"]["note"]


def test_postgres_panels_equal_sqlite_panels(
    sqlite_monitored: Monitored, pg_monitored: Monitored
) -> None:
    assert pg_monitored.store.dialect == "postgresql"
    lite, pg = _panels(sqlite_monitored), _panels(pg_monitored)
    assert pg["hallucination"]["rows"], "no hallucination rows from PostgreSQL"
    for panel_id, panel in lite.items():
        other = pg[panel_id]
        assert len(panel["rows"]) == len(other["rows"]), panel_id
        for a, b in zip(panel["rows"], other["rows"], strict=True):
            assert a["label"] == b["label"]
            for key in ("value", "low", "high"):
                if a.get(key) is None:
                    assert b.get(key) is None
                else:
                    assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-9), (panel_id, key)
        assert panel.get("table", {}).get("rows") == other.get("table", {}).get("rows"), panel_id
