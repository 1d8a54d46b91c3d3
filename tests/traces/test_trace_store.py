"""The trace store: rollups written with the traces, migrations of old stores, keyset pages.

Every test runs on SQLite and on a real PostgreSQL server.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from gateway_fixtures import fresh_database

from llmops.traces import TraceRecord, TraceStore
from llmops.traces.rollup import BINS, BUCKET_S
from llmops.traces.schema import SCHEMA_VERSION

NOW = 1_780_000_000.0


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'traces.db'}"
    return fresh_database(request.getfixturevalue("postgres_url"))


def _records(n: int, seed: int = 0) -> list[TraceRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        rag = rng.random() < 0.7
        k = rng.choice([0, 3, 4]) if rag else 0
        scores = sorted((rng.random() for _ in range(k)), reverse=True) if rag else None
        out.append(
            TraceRecord(
                f"req-{seed}-{i}",
                ts=NOW - rng.uniform(0, 7200),
                route=rng.choice(["qa", "chat"]),
                arm=rng.choice([None, "stable", "canary"]),
                prompt_name="rag-answer",
                prompt_version=rng.choice(["1", "2"]),
                status=rng.choice([200] * 8 + [500, 400]),
                latency_ms=rng.expovariate(1 / 80),
                prompt_tokens=rng.randint(5, 50),
                completion_tokens=rng.randint(1, 40),
                chunk_ids=[f"c{j}" for j in range(k)] if rag else None,
                chunk_scores=scores,
                chunk_sources=[rng.choice(["a.md", "b.md"]) for _ in range(k)] if rag else None,
                question="How long should spaghetti cook?",
                answer=rng.choice(["Nine to eleven minutes [c1].", "I don't know", "Sure."]),
                guards=[{"stage": "input", "name": "pii", "passed": rng.random() < 0.9}],
            )
        )
    return out


def _expected(records: list[TraceRecord]) -> dict[str, Any]:
    """Aggregate by brute force in Python: what the rollups must say."""
    out: dict[str, Any] = Counter()
    bins = Counter()
    for r in records:
        out["n"] += 1
        out["errors"] += r.status >= 500
        out["rag"] += r.chunk_ids is not None
        out["empty"] += r.chunk_ids == []
        out["abstained"] += r.status == 200 and r.answer == "I don't know"
        out["guard_fired"] += any(not g["passed"] for g in r.guards or [])
        out["tokens"] += (r.prompt_tokens or 0) + (r.completion_tokens or 0)
        if r.chunk_scores:
            bins[BINS["top1"].index(r.chunk_scores[0])] += 1
    out["top1"] = [bins[i] for i in range(len(BINS["top1"].columns))]
    return dict(out)


def _rollup_sums(store: TraceStore) -> dict[str, Any]:
    t = store.tables.rollup
    cols = ["n", "errors", "rag", "empty_retrieval", "abstained", "guard_fired"]
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(
                *(sa.func.sum(t.c[c]) for c in cols),
                sa.func.sum(t.c.prompt_tokens + t.c.completion_tokens),
                *(sa.func.sum(t.c[c]) for c in BINS["top1"].columns),
            )
        ).one()
    values = [int(v or 0) for v in row]
    keys = ["n", "errors", "rag", "empty", "abstained", "guard_fired", "tokens"]
    named: dict[str, Any] = dict(zip(keys, values[:7], strict=True))
    named["top1"] = values[7:]
    return named


def test_rollups_match_the_traces(store_url: str) -> None:
    store = TraceStore(store_url)
    records = _records(600)
    for start in range(0, 600, 150):  # several batches land in the same minute rows
        store.write(records[start : start + 150])
    assert store.count() == 600
    assert _rollup_sums(store) == _expected(records)
    with store.engine.connect() as conn:
        buckets = conn.execute(sa.select(store.tables.rollup.c.bucket)).scalars().all()
    assert all(b % BUCKET_S == 0 for b in buckets)
    store.close()


def test_a_failed_batch_leaves_nothing(postgres_url: str) -> None:
    """The traces are inserted, then a rollup upsert fails: the transaction takes both back."""
    url = fresh_database(postgres_url)
    store = TraceStore(url)
    records = _records(20)
    records[-1].chunk_ids = ["c1"]
    records[-1].chunk_scores = [0.5]
    records[-1].chunk_sources = ["x" * 2000]  # fits the trace (JSON text), not the rollup key
    with pytest.raises(Exception, match="value too long"):
        store.write(records)
    assert store.count() == 0
    assert _rollup_sums(store)["n"] == 0
    store.write(records[:-1])
    assert store.count() == 19
    store.close()


def _old_store(url: str, rows: list[TraceRecord]) -> None:
    """Create a store exactly as schema 1 did (before the monitors) and fill it."""
    from llmops.traces.store import normalise_url

    engine = sa.create_engine(normalise_url(url))
    meta = sa.MetaData()
    text = {"question", "answer", "error_message", "chunk_ids", "chunk_scores", "guards", "extra"}
    kinds = {
        "ts": sa.Float, "latency_ms": sa.Float, "retrieval_ms": sa.Float, "upstream_ms": sa.Float,
        "first_token_ms": sa.Float, "status": sa.Integer, "prompt_tokens": sa.Integer,
        "completion_tokens": sa.Integer, "stream": sa.Boolean,
    }  # fmt: skip
    old = [
        "request_id", "ts", "endpoint", "route", "arm", "strategy", "shadow_of", "key_id", "user",
        "stream", "status", "error_code", "error_message", "prompt_name", "prompt_version",
        "prompt_hash", "index_pipeline", "index_version", "upstream", "upstream_model", "replica",
        "latency_ms", "retrieval_ms", "upstream_ms", "first_token_ms", "prompt_tokens",
        "completion_tokens", "chunk_ids", "chunk_scores", "question", "answer", "guards", "extra",
    ]  # fmt: skip
    cols = [sa.Column(c, sa.Text if c in text else kinds.get(c, sa.String(255))) for c in old]
    table = sa.Table(
        "llmops_traces",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        *cols,
        sa.Index("ix_llmops_traces_route_ts", "route", "ts"),
        sa.Index("ix_llmops_traces_request_id", "request_id"),
    )
    meta.create_all(engine)
    import json

    with engine.begin() as conn:
        conn.execute(
            table.insert(),
            [
                {
                    c: json.dumps(getattr(r, c))
                    if c in text - {"question", "answer", "error_message"}
                    and getattr(r, c) is not None
                    else getattr(r, c)
                    for c in old
                }
                for r in rows
            ],
        )
    engine.dispose()


def test_an_old_store_is_migrated_in_place(store_url: str) -> None:
    records = _records(300, seed=3)
    for r in records:
        r.chunk_sources = None  # schema 1 did not store sources
    _old_store(store_url, records)
    store = TraceStore(store_url)
    assert any("added column sample_u" in s for s in store.migrations)
    assert any("300 existing traces" in s for s in store.migrations)
    rows = store.query(limit=None)
    assert len(rows) == 300
    by_id = {r["request_id"]: r for r in rows}
    for rec in records:
        row = by_id[rec.request_id]
        assert row["question"] == rec.question  # old data intact
        if rec.chunk_scores:
            assert row["top1_score"] == pytest.approx(rec.chunk_scores[0])
        assert 0 <= row["sample_u"] < 1
    assert _rollup_sums(store) == _expected(records)
    with store.engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version FROM llmops_schema")).scalar_one()
    assert version == SCHEMA_VERSION
    store.write(_records(5, seed=9))  # new rows go in with the new columns
    assert store.count() == 305
    store.close()
    again = TraceStore(store_url)
    assert again.migrations == []  # current: nothing to do, nothing counted twice
    assert _rollup_sums(again)["n"] == 305
    again.close()


def test_keyset_pages_cover_every_trace_once(store_url: str) -> None:
    store = TraceStore(store_url)
    records = _records(237, seed=5)
    records[10].ts = records[11].ts  # ties on ts are ordered by id
    store.write(records)
    seen: list[int] = []
    after = None
    while True:
        page = store.page(
            start=NOW - 10_000, end=NOW + 1, after=after, limit=50, columns=["ts", "request_id"]
        )
        seen.extend(row["id"] for row in page.items)
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert len(seen) == len(set(seen)) == 237
    stamps = {r["id"]: r["ts"] for r in store.query(limit=None)}
    order = [(stamps[i], i) for i in seen]
    assert order == sorted(order, reverse=True)
    store.close()


def test_a_schema_2_store_gains_the_index_and_drift_table_without_a_second_rollup(
    store_url: str,
) -> None:
    store = TraceStore(store_url)
    store.write(_records(200, seed=4))
    with store.engine.begin() as conn:  # what a schema-2 store looks like
        conn.execute(sa.text("DROP INDEX ix_llmops_traces_sampled_cover"))
        conn.execute(sa.text("DROP TABLE llmops_monitor_drift"))
        conn.execute(sa.text("UPDATE llmops_schema SET version = 2"))
    before = _rollup_sums(store)
    store.close()
    again = TraceStore(store_url)
    assert again.migrations == ["created index ix_llmops_traces_sampled_cover"]
    assert _rollup_sums(again) == before  # no backfill: rollups are not counted twice
    inspector = sa.inspect(again.engine)
    assert "llmops_monitor_drift" in inspector.get_table_names()
    names = {i["name"] for i in inspector.get_indexes("llmops_traces")}
    assert "ix_llmops_traces_sampled_cover" in names
    again.close()


def test_a_current_store_opens_without_the_migration_lock_or_ddl(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'traces.db'}"
    lock = tmp_path / "traces.db.migrate.lock"
    TraceStore(url).close()
    assert lock.exists()  # the first open migrated under the file lock
    lock.unlink()
    ddl: list[str] = []
    engine = sa.create_engine(url)  # open again, recording every statement it runs
    sa.event.listen(engine, "before_cursor_execute", lambda *a: ddl.append(a[2]))
    from llmops.traces.schema import Tables, is_current, migrate

    assert is_current(engine, Tables("sqlite"))
    assert migrate(engine, Tables("sqlite"), lock_path=str(lock)) == []
    assert not lock.exists()  # no lock taken: every open of a current store is two reads
    assert not [s for s in ddl if s.lstrip().upper().startswith(("CREATE", "ALTER"))]
    engine.dispose()
    TraceStore(url).close()
    assert not lock.exists()


def test_a_store_missing_a_table_is_not_taken_for_current(store_url: str) -> None:
    store = TraceStore(store_url)
    with store.engine.begin() as conn:  # version row current, one table gone
        conn.execute(sa.text("DROP TABLE llmops_monitor_drift"))
    store.close()
    again = TraceStore(store_url)
    assert "llmops_monitor_drift" in sa.inspect(again.engine).get_table_names()
    again.close()
