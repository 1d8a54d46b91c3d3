"""Stored query-drift results: `monitor watch` computes them, the report and the dashboard reuse
them while they are fresh, and a result that is too old, on another reference or blind to newly
embedded queries is recomputed (never shown as current)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from synth import NOW, fill, traffic  # type: ignore[import-not-found]

from llmops.config import Settings
from llmops.monitor.queries import Window
from llmops.monitor.report import build_report
from llmops.monitor.signals import Evaluator
from llmops.monitor.watch import run_once
from llmops.traces import TraceStore

H = 3600.0


def _settings(**drift: Any) -> Settings:
    return Settings.model_validate(
        {"monitor": {"drift": {"min_window": 30, "reference_window": "1h", **drift}}}
    )


def _embed(store: TraceStore, shift: float = 0.0, seed: int = 0) -> int:
    """Give every trace without one a vector, as the scorer does (ids in insert order)."""
    import sqlalchemy as sa

    t, v = store.table, store.tables.vectors
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.id, t.c.route, t.c.ts, t.c.sample_u, t.c.question)
            .outerjoin(v, v.c.trace_id == t.c.id)
            .where(v.c.trace_id.is_(None))
            .order_by(t.c.id)
        ).fetchall()
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(len(rows), 16)).astype(np.float32)
    vecs[:, 0] += shift
    with store.engine.begin() as conn:
        conn.execute(
            v.insert(),
            [
                {"trace_id": r[0], "route": r[1], "ts": r[2], "sample_u": r[3], "model": "m",
                 "question": r[4], "vec": vec.tobytes()}
                for r, vec in zip(rows, vecs, strict=True)
            ],
        )  # fmt: skip
    return len(rows)


@pytest.fixture
def store(tmp_path: Path) -> TraceStore:
    found = TraceStore(f"sqlite:///{tmp_path / 't.db'}")
    fill(found, traffic("qa", 200, NOW - 2 * H, NOW - H, seed=1))
    fill(found, traffic("qa", 200, NOW - H, NOW, seed=2))
    _embed(found)
    return found


def _drift(store: TraceStore, settings: Settings, end: float) -> Any:
    ev = Evaluator(store, settings, clock=lambda: end)
    return ev.signal("query_drift", "qa", Window(end - H, end))


def test_a_fresh_result_is_reused_and_says_so(store: TraceStore) -> None:
    settings = _settings()
    first = _drift(store, settings, NOW)
    assert first.status in ("drift", "no_drift") and "cached" not in first.evidence
    again = _drift(store, settings, NOW + 120)  # the window moved two minutes
    assert again.evidence["cached"]["age_s"] == 120.0
    assert again.p_value == first.p_value and again.n == first.n
    assert "computed 120 s before" in again.message


def test_a_result_older_than_fresh_or_a_twelfth_of_the_window_is_recomputed(
    store: TraceStore,
) -> None:
    settings = _settings(cache_fresh="1h")
    _drift(store, settings, NOW)
    assert "cached" in _drift(store, settings, NOW + H / 12).evidence
    assert "cached" not in _drift(store, settings, NOW + H / 12 + 1).evidence
    _drift(store, settings, NOW)  # a clock behind the stored window: not reused either
    short = _settings(cache_fresh="30s")
    _drift(store, short, NOW)
    assert "cached" not in _drift(store, short, NOW + 31).evidence


def test_newly_embedded_queries_or_another_reference_invalidate(store: TraceStore) -> None:
    settings = _settings()
    before = _drift(store, settings, NOW)
    assert before.status == "no_drift", before.message
    fill(store, traffic("qa", 300, NOW - 10, NOW, seed=3))
    assert _embed(store, shift=3.0, seed=1) == 300  # a topic shift, embedded after the result
    after = _drift(store, settings, NOW)
    assert "cached" not in after.evidence
    assert after.status == "drift" and after.n > before.n, after.message
    other = _settings(alpha=0.001)  # another test setting: another key
    assert "cached" not in _drift(store, other, NOW).evidence


def test_watch_stores_the_report_windows_and_the_report_reuses_them(store: TraceStore) -> None:
    settings = Settings.model_validate(
        {"monitor": {"drift": {"min_window": 30, "cache_windows": ["1h", "24h"]}}}
    )
    run_once(store, settings, clock=lambda: NOW, score=False)
    for span in (H, 24 * H):
        report = build_report(store, settings, Window(NOW + 30 - span, NOW + 30))
        drift = report.routes[0].signal("query_drift")
        assert drift.evidence["cached"]["age_s"] == 30.0, span


def test_the_report_runs_routes_drift_two_at_a_time_with_the_same_results(
    store: TraceStore,
) -> None:
    from llmops.monitor.drift import _controller

    fill(store, traffic("faq", 200, NOW - 2 * H, NOW - H, seed=3))
    fill(store, traffic("faq", 200, NOW - H, NOW, seed=4))
    _embed(store, shift=0.0, seed=5)
    settings = _settings()
    blas = [p["num_threads"] for p in _controller().info() if p["user_api"] == "blas"]
    report = build_report(store, settings, Window(NOW - H, NOW), clock=lambda: NOW)
    assert [p["num_threads"] for p in _controller().info() if p["user_api"] == "blas"] == blas
    with store.engine.begin() as conn:  # the same tests, one route after the other
        conn.execute(store.tables.drift_cache.delete())
    for route in report.routes:
        one = _drift_of(store, settings, route.route)
        got = route.signal("query_drift")
        assert "cached" not in got.evidence and got.status in ("drift", "no_drift")
        assert (got.p_value, got.value, got.n) == (one.p_value, one.value, one.n)
    assert sorted(r.route for r in report.routes) == ["faq", "qa"]


def _drift_of(store: TraceStore, settings: Settings, route: str) -> Any:
    ev = Evaluator(store, settings, clock=lambda: NOW)
    return ev.signal("query_drift", route, Window(NOW - H, NOW))
