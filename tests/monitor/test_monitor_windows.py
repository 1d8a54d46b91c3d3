"""Signals over chosen time windows (injected clock): rollup drift, k-of-m firing, releases,
and the same report from SQLite and from a real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway_fixtures import fresh_database  # type: ignore[import-not-found]
from synth import NOW, Arm, fill, traffic  # type: ignore[import-not-found]

from llmops.config import Settings
from llmops.monitor.alerts import evaluate_rules
from llmops.monitor.queries import Window
from llmops.monitor.report import build_report
from llmops.monitor.settings import AlertRule
from llmops.traces import TraceStore

H = 3600.0


def _settings(**monitor: object) -> Settings:
    return Settings.model_validate({"monitor": {"drift": {"min_window": 30}, **monitor}})


def test_retrieval_score_drift_against_the_reference_week(tmp_path: Path) -> None:
    store = TraceStore(f"sqlite:///{tmp_path / 't.db'}")
    fill(store, traffic("qa", 1500, NOW - 8 * 24 * H, NOW - H, seed=1))  # the reference week
    fill(store, traffic("qa", 300, NOW - H, NOW, arm=Arm(top1_mean=0.35), seed=2))
    fill(store, traffic("steady", 1500, NOW - 8 * 24 * H, NOW - H, seed=3))
    fill(store, traffic("steady", 300, NOW - H, NOW, seed=4))
    report = build_report(store, _settings(), Window(NOW - H, NOW))
    qa = next(r for r in report.routes if r.route == "qa")
    top1 = qa.signal("top1_drift")
    assert top1.status == "drift" and top1.p_value < 0.01, top1.message
    assert qa.signal("low_score_rate").value > 0.05
    steady = next(r for r in report.routes if r.route == "steady")
    assert steady.signal("top1_drift").status == "no_drift"
    assert steady.signal("answer_length_drift").status == "no_drift"
    p95 = steady.signal("latency_p95")
    assert p95.low <= p95.value <= p95.high and 0.1 < p95.value < 0.5  # expovariate(80 ms)


def test_k_of_m_windows_before_firing(tmp_path: Path) -> None:
    store = TraceStore(f"sqlite:///{tmp_path / 't.db'}")
    # Three hours: only the latest one has a high error rate.
    fill(store, traffic("qa", 400, NOW - 3 * H, NOW - H, seed=1))
    fill(store, traffic("qa", 200, NOW - H, NOW, arm=Arm(error_rate=0.3), seed=2))
    settings = _settings()
    settings.monitor.alerts = [
        AlertRule(name="one", signal="error_rate", route="qa", window="1h", above=0.1),
        AlertRule(name="two-of-three", signal="error_rate", route="qa", window="1h", above=0.1,
                  k=2, m=3),
    ]  # fmt: skip
    outcomes = {o.rule: o for o in evaluate_rules(store, settings, clock=lambda: NOW)}
    assert outcomes["one"].fired and outcomes["one"].bad == 1
    assert not outcomes["two-of-three"].fired and outcomes["two-of-three"].bad == 1
    assert [w["bad"] for w in outcomes["two-of-three"].windows] == [True, False, False]
    # The hour before the data has no traffic: no verdict (None), never "good" or "bad".
    quiet = evaluate_rules(store, settings, clock=lambda: NOW - 3 * H, only="one")[0]
    assert quiet.windows[0]["bad"] is None and quiet.windows[0]["status"] == "no_data"


@pytest.mark.parametrize(
    ("canary", "n", "verdict"),
    [
        (Arm("canary", error_rate=0.15), 1500, "rollback"),
        (Arm("canary", unsupported=0.5), 1500, "rollback"),
        (Arm("canary"), 1500, "promote"),
        (Arm("canary"), 60, "hold"),
    ],
)
def test_release_arms_end_in_a_recommendation(
    tmp_path: Path, canary: Arm, n: int, verdict: str
) -> None:
    store = TraceStore(f"sqlite:///{tmp_path / 't.db'}")
    fill(store, traffic("qa", 3000, NOW - H, NOW, arm=Arm("stable"), seed=1))
    fill(store, traffic("qa", n, NOW - H, NOW, arm=canary, seed=2))
    settings = _settings(release={"margin": 0.05})  # non-inferiority within 5 points
    report = build_report(store, settings, Window(NOW - H, NOW), route="qa")
    release = report.routes[0].signal("release")
    assert release.evidence["comparisons"]["canary"]["recommendation"] == verdict, release.message
    assert release.value == {"rollback": -1.0, "hold": 0.0, "promote": 1.0}[verdict]
    assert release.evidence["baseline"] == "stable"


def test_postgres_report_equals_sqlite_report(tmp_path: Path, postgres_url: str) -> None:
    records = traffic("qa", 2000, NOW - 4 * H, NOW, arm=Arm("stable"), seed=5)
    records += traffic("qa", 800, NOW - H, NOW, arm=Arm("canary", unsupported=0.3), seed=6)
    lite = TraceStore(f"sqlite:///{tmp_path / 't.db'}")
    pg = TraceStore(fresh_database(postgres_url))
    assert pg.dialect == "postgresql"
    fill(lite, records)
    fill(pg, records)
    window = Window(NOW - 2 * H, NOW)
    a = build_report(lite, _settings(), window).as_dict()
    b = build_report(pg, _settings(), window).as_dict()
    sa_signals = a["routes"][0]["signals"]
    pg_signals = b["routes"][0]["signals"]
    for key, value in sa_signals.items():
        other = pg_signals[key]
        assert value["status"] == other["status"], key
        for stat in ("value", "low", "high", "p_value"):
            if value[stat] is None:
                assert other[stat] is None, key
            else:
                assert value[stat] == pytest.approx(other[stat], rel=1e-6, abs=1e-9), (key, stat)
    assert sa_signals["unsupported_rate"]["status"] == "ok"
    lite.close()
    pg.close()
