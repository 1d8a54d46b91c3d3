"""The trace store: traces and their rollups in SQLite (default) or PostgreSQL.

``write`` inserts a batch and upserts its rollups in one transaction: a report never counts a
trace that was not stored, and a failed batch leaves nothing behind. Opening a store migrates an
older schema in place (``llmops.traces.schema``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import compress
from operator import is_not, itemgetter
from typing import Any

from llmops.traces.derive import derive
from llmops.traces.record import COLUMNS, JSON_FIELDS, TraceRecord
from llmops.traces.rollup import KEYS, ROLLUP_COLUMNS, RollupBatch
from llmops.traces.schema import ROLLUP, ROLLUP_HOURLY, ROLLUP_SOURCES, TRACES, Tables, migrate

__all__ = ["SCORE_FIELDS", "Page", "TraceStore", "normalise_url", "upsert_rollups"]

SCORE_FIELDS = (
    "scored_at",
    "groundedness",
    "unsupported",
    "judge",
    "judge_faithfulness",
    "judge_relevance",
    "score_error",
)


def normalise_url(url: str) -> str:
    """Return a SQLAlchemy URL with the psycopg 3 driver for plain postgresql:// URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _upsert_sql(mark: Callable[[int], str]) -> tuple[str, str, str]:
    """Return the minute, hour and source upserts with placeholders ``mark(0)``, ``mark(1)``..."""
    cols = (*KEYS, *ROLLUP_COLUMNS)
    marks = ", ".join(mark(i) for i in range(len(cols)))

    def rollup(table: str) -> str:
        sets = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in ROLLUP_COLUMNS)
        return (
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks}) "
            f"ON CONFLICT ({', '.join(KEYS)}) DO UPDATE SET {sets}"
        )

    sources = (
        f"INSERT INTO {ROLLUP_SOURCES} (bucket, route, source, n, top1) "
        f"VALUES ({', '.join(mark(i) for i in range(5))}) ON CONFLICT (bucket, route, source) "
        f"DO UPDATE SET n = {ROLLUP_SOURCES}.n + excluded.n, "
        f"top1 = {ROLLUP_SOURCES}.top1 + excluded.top1"
    )
    return rollup(ROLLUP), rollup(ROLLUP_HOURLY), sources


def _named(params: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [{f"p{i}": v for i, v in enumerate(p)} for p in params]


def upsert_rollups(conn: Any, batch: RollupBatch) -> None:
    """Add ``batch`` to the rollup tables through a SQLAlchemy connection."""
    import sqlalchemy as sa

    minute, hour, sources = _upsert_sql(lambda i: f":p{i}")
    if batch.rows:
        conn.execute(sa.text(minute), _named(batch.params()))
        conn.execute(sa.text(hour), _named(batch.hour_params()))
    if batch.sources:
        conn.execute(sa.text(sources), _named(batch.source_params()))


@dataclass
class Page:
    """One page of traces and the cursor of the next one (None at the end)."""

    items: list[dict[str, Any]]
    next_cursor: tuple[float, int] | None


class TraceStore:
    """Rows in the ``llmops_traces`` table of a SQLAlchemy database, with rollups."""

    TABLE = TRACES

    def __init__(self, url: str, *, rollups: bool = True) -> None:
        import sqlalchemy as sa

        self.url = normalise_url(url)
        self.rollups = rollups
        lock_path = None
        if self.url.startswith("sqlite:///"):
            from pathlib import Path

            db = Path(self.url[len("sqlite:///") :])
            db.parent.mkdir(parents=True, exist_ok=True)
            lock_path = str(db) + ".migrate.lock"
        self.engine = sa.create_engine(self.url, future=True, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            # WAL keeps readers (monitors) from blocking the writer; NORMAL survives a process
            # crash after commit, which is the promise ("up to the last flush").
            @sa.event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA busy_timeout=5000")
                cur.close()

        self.tables = Tables(self.engine.dialect.name)
        self.table = self.tables.traces
        self.migrations = migrate(self.engine, self.tables, lock_path=lock_path)
        style = self.engine.dialect.paramstyle
        mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(style)
        self._inserts: _Inserts | None = None
        self._rollup_sql: tuple[str, str, str] | None = None
        if mark is not None:
            # "user" is reserved in PostgreSQL
            self._inserts = _Inserts(mark, self.engine.dialect.identifier_preparer.quote)
            self._rollup_sql = _upsert_sql(lambda _i: mark)

    @property
    def dialect(self) -> str:
        """Return ``sqlite`` or ``postgresql``."""
        return str(self.engine.dialect.name)

    def write(self, records: Iterable[TraceRecord], record_text: bool = True) -> int:
        """Insert records and their rollups in one transaction; return how many."""
        batch = [derive(r) for r in records]
        if not batch:
            return 0
        rows = [r.values(record_text) for r in batch]
        roll = RollupBatch.of(batch) if self.rollups else None
        if self._inserts is None or self._rollup_sql is None:
            with self.engine.begin() as conn:
                conn.execute(
                    self.table.insert(), [dict(zip(COLUMNS, r, strict=True)) for r in rows]
                )
                if roll is not None:
                    upsert_rollups(conn, roll)
            return len(rows)
        # The driver's executemany with tuples: several times cheaper per row than Core's path.
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            for sql, values in self._inserts.grouped(rows):
                cur.executemany(sql, values)
            if roll is not None:
                if roll.rows:
                    cur.executemany(self._rollup_sql[0], roll.params())
                    cur.executemany(self._rollup_sql[1], roll.hour_params())
                if roll.sources:
                    cur.executemany(self._rollup_sql[2], roll.source_params())
            cur.close()
            raw.commit()
        except BaseException:
            raw.rollback()
            raise
        finally:
            raw.close()
        return len(rows)

    def query(
        self,
        *,
        since: float | datetime | None = None,
        route: str | None = None,
        limit: int | None = 1000,
        request_id: str | None = None,
        arm: str | None = None,
    ) -> list[dict[str, Any]]:
        """Return traces, newest first, as dicts (JSON columns decoded)."""
        import sqlalchemy as sa

        t = self.table
        stmt = sa.select(t).order_by(t.c.ts.desc())
        if since is not None:
            stamp = since.timestamp() if isinstance(since, datetime) else float(since)
            stmt = stmt.where(t.c.ts >= stamp)
        if route is not None:
            stmt = stmt.where(t.c.route == route)
        if request_id is not None:
            stmt = stmt.where(t.c.request_id == request_id)
        if arm is not None:
            stmt = stmt.where(t.c.arm == arm)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            return [decode_row(dict(r._mapping)) for r in conn.execute(stmt)]

    def page(
        self,
        *,
        start: float,
        end: float,
        route: str | None = None,
        after: tuple[float, int] | None = None,
        limit: int = 100,
        columns: Sequence[str] | None = None,
    ) -> Page:
        """Return up to ``limit`` traces in [start, end), newest first, after a keyset cursor.

        Pass the page's ``next_cursor`` back as ``after``: it is the ``(ts, id)`` of the page's
        last row, so each page is an index range scan, whatever page number it is.
        """
        import sqlalchemy as sa

        t = self.table
        cols = [t.c.id, *(t.c[c] for c in columns)] if columns else [t]
        stmt = sa.select(*cols).where(t.c.ts >= start, t.c.ts < end)
        if route is not None:
            stmt = stmt.where(t.c.route == route)
        if after is not None:
            ts, ident = after
            stmt = stmt.where(sa.or_(t.c.ts < ts, sa.and_(t.c.ts == ts, t.c.id < ident)))
        stmt = stmt.order_by(t.c.ts.desc(), t.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            items = [decode_row(dict(r._mapping)) for r in conn.execute(stmt)]
        cursor = (float(items[-1]["ts"]), int(items[-1]["id"])) if len(items) == limit else None
        return Page(items, cursor)

    def count(self) -> int:
        """Return the number of stored traces."""
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one()
            )

    def save_scores(self, scores: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """Write online-evaluation scores back onto traces, by row id."""
        import sqlalchemy as sa

        if not scores:
            return
        t = self.table
        stmt = (
            t.update()
            .where(t.c.id == sa.bindparam("_id"))
            .values({f: sa.bindparam(f"_{f}") for f in SCORE_FIELDS})
        )
        params = [
            {"_id": ident, **{f"_{f}": values.get(f) for f in SCORE_FIELDS}}
            for ident, values in scores
        ]
        with self.engine.begin() as conn:
            conn.execute(stmt, params)

    def apply_feedback(
        self, request_id: str, score: float, resample: Any | None = None
    ) -> dict[str, Any] | None:
        """Store feedback on the newest trace of ``request_id``; return what changed, or None.

        ``resample(inclusion_p, risk, u, score)`` (the sampler's ``on_feedback``) may pull the
        trace into the sample; rollups count the feedback and the newly sampled trace.
        """
        import sqlalchemy as sa

        t = self.table
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(t).where(t.c.request_id == request_id).order_by(t.c.id.desc()).limit(1)
            ).first()
            if row is None:
                return None
            data = decode_row(dict(row._mapping))
            values: dict[str, Any] = {"feedback": float(score)}
            change = (
                resample(data["inclusion_p"], data["risk"], data["sample_u"], score)
                if resample is not None
                else None
            )
            if change is not None:
                values["inclusion_p"], values["sampled"], values["risk"] = change
            conn.execute(t.update().where(t.c.id == data["id"]).values(**values))
            if self.rollups:
                rec = TraceRecord(**{k: data[k] for k in COLUMNS})
                roll = RollupBatch()
                if data["feedback"] is None:
                    roll.add_delta(rec, "feedback_n", 1)
                    roll.add_delta(rec, "feedback_neg", 1 if score < 0 else 0)
                if change is not None and change[1] and not data["sampled"]:
                    roll.add_delta(rec, "sampled", 1)
                if roll.rows:
                    upsert_rollups(conn, roll)
            return {"id": data["id"], **values}

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.engine.dispose()


class _Inserts:
    """INSERT statements naming only a row's non-NULL columns, by set of columns.

    Most of a trace's 60 columns are empty (a passthrough request fills about 20): binding
    only the others makes a row about three times cheaper to insert. No column has a default,
    so a column left out is NULL, as if it had been bound.
    """

    _NONES = (None,) * len(COLUMNS)
    _INDEXES = range(len(COLUMNS))

    def __init__(self, mark: str, quote: Callable[[str], str]) -> None:
        self.mark = mark
        self.quote = quote
        self._by_mask: dict[tuple[int, ...], tuple[str, Callable[[Any], Any]]] = {}

    def _statement(self, mask: tuple[int, ...]) -> tuple[str, Callable[[Any], Any]]:
        found = self._by_mask.get(mask)
        if found is None:
            names = ", ".join(self.quote(COLUMNS[i]) for i in mask)
            sql = f"INSERT INTO {TRACES} ({names}) VALUES ({', '.join([self.mark] * len(mask))})"
            pick = itemgetter(*mask)
            found = (sql, pick if len(mask) > 1 else lambda row: (pick(row),))
            if len(self._by_mask) >= 256:  # unusual traffic: do not grow without bound
                self._by_mask.clear()
            self._by_mask[mask] = found
        return found

    def grouped(self, rows: list[tuple[Any, ...]]) -> list[tuple[str, list[Any]]]:
        """Return (statement, parameter rows) pairs that insert ``rows`` (COLUMNS order)."""
        groups: dict[tuple[int, ...], list[Any]] = {}
        for row in rows:
            mask = tuple(compress(self._INDEXES, map(is_not, row, self._NONES)))
            found = groups.get(mask)
            if found is None:
                found = groups[mask] = []
            found.append(row)
        out = []
        for mask, members in groups.items():
            sql, pick = self._statement(mask)
            out.append((sql, [pick(row) for row in members]))
        return out


def decode_row(row: dict[str, Any]) -> dict[str, Any]:
    """Decode the JSON columns of a row in place; return it."""
    for name in JSON_FIELDS:
        value = row.get(name)
        if isinstance(value, str):
            row[name] = json.loads(value)
    return row
