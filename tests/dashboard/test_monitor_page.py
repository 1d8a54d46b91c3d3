"""The monitor page's SQL provider against real SQLite and PostgreSQL trace stores."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from pg_helpers import postgres

from llmops.dashboard.monitor_page import MonitorPage, SqlMonitorProvider, wilson
from llmops.traces import TraceRecord, TraceStore

NOW = 1_800_000_000.0
HOUR = 3600.0


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('traces') / 'traces.db'}"
    else:
        with postgres() as url:
            yield url


def _fill(
    url: str, *, shift: float = 0.0, n: int = 2000, seed: int = 0
) -> tuple[TraceStore, list[float]]:
    store = TraceStore(url)
    with store.engine.begin() as conn:
        conn.execute(store.table.delete())
    rng = random.Random(seed)
    records, latencies = [], []
    for i in range(n):
        current = i % 2 == 0  # half in the current hour, half in the hour before
        ts = NOW - (rng.uniform(0, HOUR) if current else rng.uniform(HOUR, 2 * HOUR))
        latency = rng.lognormvariate(5.0, 0.6)
        if current:
            latencies.append(latency)
        top1 = min(max(rng.gauss(0.6 + (shift if current else 0.0), 0.1), 0.0), 0.999)
        blocked = i % 40 == 0
        records.append(
            TraceRecord(
                request_id=f"r{i}",
                ts=ts,
                route="support" if i % 3 else "search",
                arm=("canary" if i % 5 == 0 else "stable") if i % 3 else None,
                status=400 if blocked else (502 if i % 97 == 0 else 200),
                error_code="prompt_injection"
                if blocked
                else ("upstream_error" if i % 97 == 0 else None),
                guards=[{"stage": "input", "name": "injection", "passed": not blocked}]
                if i % 3
                else None,
                latency_ms=latency,
                chunk_scores=[top1, top1 / 2],
            )
        )
    # Old traces outside both windows are ignored.
    records.append(
        TraceRecord(request_id="old", ts=NOW - 10 * HOUR, route="support", latency_ms=1e6)
    )
    store.write(records)
    return store, latencies


def _signals(store: TraceStore) -> Any:
    return SqlMonitorProvider(store, clock=lambda: NOW).signals(HOUR)


def test_latency_guards_and_arms_match_the_traces(store_url: str) -> None:
    store, _ = _fill(store_url)
    s = _signals(store)
    assert s.total == 1000
    rows = store.query(since=NOW - HOUR, limit=None)
    rows = [r for r in rows if r["ts"] <= NOW]
    for route in ("support", "search"):
        lat = np.array([r["latency_ms"] for r in rows if r["route"] == route])
        (got,) = [x for x in s.latency if x["route"] == route]
        assert got["n"] == len(lat)
        for q in (50, 90, 99):
            true = float(np.quantile(lat, q / 100, method="inverted_cdf"))
            width = 1.0 if true < 100 else 10.0 if true < 1000 else 100.0
            assert true <= got[f"p{q}"] <= true + width + 1e-9, (route, q, true, got)
    blocked = sum(1 for r in rows if r["status"] == 400 and r["guards"])
    (guard,) = s.guards
    assert guard["code"] == "prompt_injection" and guard["blocked"] == blocked
    assert (guard["low"], guard["high"]) == pytest.approx(wilson(blocked, 1000))
    for arm in ("canary", "stable"):
        mine = [r for r in rows if r["arm"] == arm]
        (got,) = [a for a in s.arms if a["arm"] == arm]
        errors = sum(1 for r in mine if r["status"] >= 400)
        assert got["n"] == len(mine) and got["error_rate"] == pytest.approx(errors / len(mine))
        assert got["low"] <= got["error_rate"] <= got["high"]


def test_score_drift_is_detected_and_equal_windows_are_quiet(store_url: str) -> None:
    store, _ = _fill(store_url, shift=0.05)
    (drift,) = _signals(store).drift
    assert drift["n_ref"] == drift["n_cur"] == 1000
    assert drift["p_value"] < 0.01 and drift["verdict"].startswith("drifted")
    alarms = 0
    for seed in range(10):
        store, _ = _fill(store_url, shift=0.0, seed=seed)
        (same,) = _signals(store).drift
        alarms += same["p_value"] < 0.01
    assert alarms <= 1  # about 1 % expected from a calibrated test


def test_small_and_empty_windows_say_so(store_url: str) -> None:
    store, _ = _fill(store_url, n=60)
    (drift,) = _signals(store).drift
    assert drift["p_value"] is None and drift["verdict"].startswith("too few")
    empty = SqlMonitorProvider(store, clock=lambda: NOW + 100 * HOUR)
    panels = {p["id"]: p for p in MonitorPage(empty, window_s=HOUR).panels()}
    assert panels["retrieval"]["rows"] == [] and panels["latency"]["table"]["rows"] == []
    assert "0 requests" in panels["drift"]["note"]
    assert "No online-eval scores" in panels["hallucination"]["empty"]


def test_new_traces_are_folded_in_without_recounting(store_url: str) -> None:
    store, _ = _fill(store_url, n=200)
    provider = SqlMonitorProvider(store, clock=lambda: NOW)
    before = provider.signals(HOUR)
    store.write([TraceRecord(request_id="late", ts=NOW - 10, route="search", latency_ms=5.0)])
    after = provider.signals(HOUR)
    assert after.total == before.total + 1
    search = {r["route"]: r["n"] for r in after.latency}["search"]
    assert search == {r["route"]: r["n"] for r in before.latency}["search"] + 1
    assert provider.signals(HOUR).total == after.total  # nothing new: nothing counted twice
