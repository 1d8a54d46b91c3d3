"""The trace store's tables and their migrations.

Schema 1 (before the monitors) had only ``llmops_traces`` with the request columns. Schema 2 adds
the lineage, derived, sampling and scoring columns, the rollup tables (per minute and per hour), the query vectors the
drift test reads, the latest signal values ``/metrics`` exports and the monitor's alert/action
log. Schema 3 adds the query-drift results (``llmops_monitor_drift``) and a covering index of the
sampled rows. ``migrate`` brings any older store up to date in place: missing tables and columns are
created, old rows get their derived columns and rollups in bounded batches, and the version is
recorded in ``llmops_schema``. It runs under a lock (a file lock beside a SQLite file, an advisory
lock in PostgreSQL) so two processes opening an old store do not migrate it twice.
"""

from __future__ import annotations

import logging
import time
import typing
from dataclasses import fields
from typing import Any

from llmops.traces.record import JSON_FIELDS, TEXT_FIELDS, TraceRecord
from llmops.traces.rollup import KEYS, ROLLUP_COLUMNS

if typing.TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["SCHEMA_VERSION", "Tables", "is_current", "migrate"]

log = logging.getLogger("llmops.traces")

SCHEMA_VERSION = 3
TRACES = "llmops_traces"
ROLLUP = "llmops_rollup"
ROLLUP_HOURLY = "llmops_rollup_hourly"
ROLLUP_SOURCES = "llmops_rollup_sources"
VECTORS = "llmops_trace_vectors"
SIGNALS = "llmops_monitor_signals"
EVENTS = "llmops_monitor_events"
DRIFT_CACHE = "llmops_monitor_drift"
VERSION_TABLE = "llmops_schema"
_OLD_COLUMNS = frozenset(
    {
        "request_id", "ts", "endpoint", "route", "arm", "strategy", "shadow_of", "key_id", "user",
        "stream", "status", "error_code", "error_message", "prompt_name", "prompt_version",
        "prompt_hash", "index_pipeline", "index_version", "upstream", "upstream_model", "replica",
        "latency_ms", "retrieval_ms", "upstream_ms", "first_token_ms", "prompt_tokens",
        "completion_tokens", "chunk_ids", "chunk_scores", "question", "answer", "guards", "extra",
    }
)  # fmt: skip


class Tables:
    """The SQLAlchemy tables of one store.

    ``dialect`` names the database the partial indexes are for: naming only its own ``*_where``
    keeps SQLAlchemy from importing every other dialect to check the keyword (0.2 s at start).
    """

    def __init__(self, dialect: str | None = None) -> None:
        import sqlalchemy as sa

        def where(cond: Any) -> dict[str, Any]:
            names = (dialect,) if dialect in ("sqlite", "postgresql") else ("sqlite", "postgresql")
            return {f"{name}_where": cond for name in names}

        self.meta = meta = sa.MetaData()
        cols: list[sa.Column[Any]] = []
        for f in fields(TraceRecord):
            if f.name.startswith("raw_"):
                continue
            cols.append(sa.Column(f.name, _column_type(f.name, str(f.type))))
        # Request ids come from clients too (x-request-id) and may repeat: not a key.
        self.traces = sa.Table(
            TRACES,
            meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            *cols,
            sa.Index("ix_llmops_traces_route_ts", "route", "ts"),
            sa.Index("ix_llmops_traces_request_id", "request_id"),
            sa.Index("ix_llmops_traces_ts", "ts"),
            sa.Index("ix_llmops_traces_sampled", "sampled", "ts"),
        )
        # Schema 3: the hallucination monitor's sums read only this small index (sampled rows,
        # every column they need), never the table's rows.
        sampled = self.traces.c.sampled == sa.true()
        sa.Index(
            "ix_llmops_traces_sampled_cover",
            *(self.traces.c[c] for c in ("sampled", "ts", "route", "prompt_name", "prompt_version",
              "arm", "inclusion_p", "unsupported", "judge_faithfulness", "scored_at",
              "score_error")),
            **where(sampled),
        )  # fmt: skip
        unscored = sa.and_(self.traces.c.sampled == sa.true(), self.traces.c.scored_at.is_(None))
        sa.Index("ix_llmops_traces_unscored", self.traces.c.id, **where(unscored))
        skewed = self.traces.c.ts_client.is_not(None)
        sa.Index("ix_llmops_traces_skew", self.traces.c.ts, **where(skewed))

        def rollup_columns() -> list[sa.Column[Any]]:
            keys = [
                sa.Column(k, sa.BigInteger if k == "bucket" else sa.String(255), nullable=False)
                for k in KEYS
            ]
            return keys + [
                sa.Column(c, sa.Float if c == "latency_ms" else sa.BigInteger, nullable=False)
                for c in ROLLUP_COLUMNS
            ]

        self.rollup = sa.Table(
            ROLLUP,
            meta,
            *rollup_columns(),
            sa.PrimaryKeyConstraint(*KEYS, name="pk_llmops_rollup"),
            sa.Index("ix_llmops_rollup_route_bucket", "route", "bucket"),
        )
        self.rollup_hourly = sa.Table(
            ROLLUP_HOURLY,
            meta,
            *rollup_columns(),
            sa.PrimaryKeyConstraint(*KEYS, name="pk_llmops_rollup_hourly"),
            sa.Index("ix_llmops_rollup_hourly_route_bucket", "route", "bucket"),
        )
        self.sources = sa.Table(
            ROLLUP_SOURCES,
            meta,
            sa.Column("bucket", sa.BigInteger, nullable=False),
            sa.Column("route", sa.String(255), nullable=False),
            sa.Column("source", sa.String(1024), nullable=False),
            sa.Column("n", sa.BigInteger, nullable=False),
            sa.Column("top1", sa.BigInteger, nullable=False),
            sa.PrimaryKeyConstraint("bucket", "route", "source", name="pk_llmops_rollup_sources"),
        )
        self.vectors = sa.Table(
            VECTORS,
            meta,
            sa.Column("trace_id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("route", sa.String(255), nullable=False),
            sa.Column("ts", sa.Float, nullable=False),
            sa.Column("sample_u", sa.Float, nullable=False),
            sa.Column("model", sa.String(255), nullable=False),
            sa.Column("question", sa.Text, nullable=True),
            sa.Column("vec", sa.LargeBinary, nullable=False),
            # The drift test reads the lowest sample_u of a window: walking this index in u
            # order stops after max_window rows, however many vectors the window holds.
            sa.Index("ix_llmops_trace_vectors_route_u", "route", "sample_u", "ts"),
        )
        self.signals = sa.Table(
            SIGNALS,
            meta,
            sa.Column("name", sa.String(255), nullable=False),
            sa.Column("labels", sa.String(1024), nullable=False),
            sa.Column("value", sa.Float, nullable=True),
            sa.Column("ts", sa.Float, nullable=False),
            sa.PrimaryKeyConstraint("name", "labels", name="pk_llmops_monitor_signals"),
        )
        self.events = sa.Table(
            EVENTS,
            meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("ts", sa.Float, nullable=False),
            sa.Column("kind", sa.String(32), nullable=False),
            sa.Column("rule", sa.String(255), nullable=True),
            sa.Column("action", sa.String(255), nullable=True),
            sa.Column("route", sa.String(255), nullable=True),
            sa.Column("status", sa.String(32), nullable=False),
            sa.Column("reason", sa.Text, nullable=True),
            sa.Column("evidence", sa.Text, nullable=True),
            sa.Column("result", sa.Text, nullable=True),
            sa.Index("ix_llmops_monitor_events_action_ts", "action", "ts"),
            sa.Index("ix_llmops_monitor_events_ts", "ts"),
        )
        # Query-drift results per (route, window length, reference): written by
        # `monitor watch` and by any reader that had to compute one (llmops.monitor.drift_cache).
        self.drift_cache = sa.Table(
            DRIFT_CACHE,
            meta,
            sa.Column("route", sa.String(255), nullable=False),
            sa.Column("window_s", sa.Float, nullable=False),
            sa.Column("reference", sa.String(64), nullable=False),
            sa.Column("window_end", sa.Float, nullable=False),
            sa.Column("computed_at", sa.Float, nullable=False),
            sa.Column("vectors_seen", sa.BigInteger, nullable=False),  # max trace_id embedded
            sa.Column("result", sa.Text, nullable=False),
            sa.PrimaryKeyConstraint(
                "route", "window_s", "reference", name="pk_llmops_monitor_drift"
            ),
        )
        self.version = sa.Table(
            VERSION_TABLE,
            meta,
            sa.Column("component", sa.String(64), primary_key=True),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("migrated_at", sa.Float, nullable=False),
        )


def _column_type(name: str, annotation: str) -> Any:
    import sqlalchemy as sa

    if name in TEXT_FIELDS:
        return sa.Text
    kind = annotation.split("|")[0].strip()
    if kind == "str":
        # Old columns keep the type stores were created with; new ones take any length.
        return sa.String(255) if name in _OLD_COLUMNS else sa.Text
    return {"float": sa.Float, "int": sa.Integer, "bool": sa.Boolean}.get(kind, sa.Text)


def is_current(engine: sa.Engine, tables: Tables) -> bool:
    """Return True when the store is at ``SCHEMA_VERSION`` with every table: nothing to do.

    Two reads, no lock and no DDL: what every open of an up-to-date store costs (the report
    and each CLI command open the store; ``create_all`` under the file lock took ~0.1 s).
    """
    import sqlalchemy as sa

    try:
        with engine.connect() as conn:
            version = conn.execute(
                sa.select(tables.version.c.version).where(tables.version.c.component == "traces")
            ).scalar()
            if version is None or version < SCHEMA_VERSION:
                return False
            have = set(sa.inspect(conn).get_table_names())
    except sa.exc.DBAPIError:  # no version table yet: a new or a pre-versioning store
        return False
    return all(name in have for name in tables.meta.tables)


def migrate(engine: sa.Engine, tables: Tables, *, lock_path: str | None = None) -> list[str]:
    """Bring the store to ``SCHEMA_VERSION``; return the steps taken (empty when current)."""
    import contextlib

    import sqlalchemy as sa

    if is_current(engine, tables):
        return []
    guard: Any = contextlib.nullcontext()
    if engine.dialect.name == "sqlite" and lock_path is not None:
        from llmops.locks import file_lock

        guard = file_lock(lock_path, timeout=600.0, what="the trace store migration")
    with guard, engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7420013)"))
        inspector = sa.inspect(conn)
        existed = inspector.has_table(TRACES)
        tables.meta.create_all(conn)
        version = conn.execute(
            sa.select(tables.version.c.version).where(tables.version.c.component == "traces")
        ).scalar()
        if version is not None and version >= SCHEMA_VERSION:
            return []
        steps: list[str] = []
        if existed:
            have = {c["name"] for c in sa.inspect(conn).get_columns(TRACES)}
            prep = conn.dialect.identifier_preparer
            for column in tables.traces.columns:
                if column.name in have:
                    continue
                ddl = column.type.compile(dialect=conn.dialect)
                conn.execute(
                    sa.text(f"ALTER TABLE {TRACES} ADD COLUMN {prep.quote(column.name)} {ddl}")
                )
                steps.append(f"added column {column.name}")
            indexed = {i["name"] for i in sa.inspect(conn).get_indexes(TRACES)}
            for index in tables.traces.indexes:
                if index.name not in indexed:
                    index.create(conn)
                    steps.append(f"created index {index.name}")
            if version is None or version < 2:
                rows = _backfill(conn, tables)
                steps.append(f"derived columns and rollups for {rows} existing traces")
        values = {"component": "traces", "version": SCHEMA_VERSION, "migrated_at": time.time()}
        if version is None:
            conn.execute(tables.version.insert().values(**values))
        else:
            conn.execute(
                tables.version.update()
                .where(tables.version.c.component == "traces")
                .values(**values)
            )
        if steps:
            log.warning("trace store migrated to schema %d: %s", SCHEMA_VERSION, "; ".join(steps))
        return steps


_BACKFILLED = (
    "top1_score",
    "topk_score",
    "guard_fired",
    "abstained",
    "refused",
    "answer_chars",
    "sample_u",
)


def _backfill(conn: sa.Connection, tables: Tables, batch: int = 5000) -> int:
    """Derive the new columns of old rows and roll them up, ``batch`` rows at a time."""
    import json

    import sqlalchemy as sa

    from llmops.traces.derive import derive
    from llmops.traces.rollup import RollupBatch
    from llmops.traces.store import upsert_rollups

    t = tables.traces
    names = [c.name for c in t.columns if c.name != "id"]
    last, done = 0, 0
    update = (
        t.update()
        .where(t.c.id == sa.bindparam("_id"))
        .values({c: sa.bindparam(f"_{c}") for c in _BACKFILLED})
    )
    while True:
        rows = conn.execute(
            sa.select(t).where(t.c.id > last).order_by(t.c.id).limit(batch)
        ).fetchall()
        if not rows:
            return done
        records = []
        for row in rows:
            data = dict(row._mapping)
            for name in JSON_FIELDS:
                if data.get(name) is not None:
                    data[name] = json.loads(data[name])
            rec = TraceRecord(**{k: data[k] for k in names})
            derive(rec)
            records.append((data["id"], rec))
        conn.execute(
            update,
            [{"_id": i, **{f"_{c}": getattr(r, c) for c in _BACKFILLED}} for i, r in records],
        )
        upsert_rollups(conn, RollupBatch.of(r for _, r in records))
        last = records[-1][0]
        done += len(records)
