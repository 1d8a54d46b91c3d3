"""The trace store: one row per gateway request, in SQLite (default) or PostgreSQL.

Requests never wait for it: the gateway hands a ``TraceRecord`` to a ``TraceWriter`` queue and
a background thread finishes it (parses the upstream body or stream for the answer and token
counts), tells the observers (metrics, token rate limits) and writes batches every
``flush_interval`` seconds. A crash loses at most the records since the last flush.
Monitors and evals read it back with ``TraceStore.query``.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

import orjson

__all__ = ["TraceRecord", "TraceStore", "TraceWriter", "normalise_url"]

log = logging.getLogger("llmops.gateway")

_JSON_FIELDS = ("chunk_ids", "chunk_scores", "guards", "extra")


@dataclass(slots=True)
class TraceRecord:
    """What served one request and how it went."""

    request_id: str
    ts: float = field(default_factory=time.time)
    endpoint: str = "chat"
    route: str | None = None
    arm: str | None = None
    strategy: str | None = None
    shadow_of: str | None = None
    key_id: str | None = None
    user: str | None = None
    stream: bool = False
    status: int = 200
    error_code: str | None = None
    error_message: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    prompt_hash: str | None = None
    index_pipeline: str | None = None
    index_version: str | None = None
    upstream: str | None = None
    upstream_model: str | None = None
    replica: str | None = None
    latency_ms: float | None = None
    retrieval_ms: float | None = None
    upstream_ms: float | None = None
    first_token_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    chunk_ids: list[str] | None = None
    chunk_scores: list[float] | None = None
    question: str | None = None
    answer: str | None = None
    guards: list[dict[str, Any]] | None = None
    extra: dict[str, Any] | None = None
    # Transient: the upstream's raw answer, parsed off the request path. Not stored.
    raw_body: bytes | None = None
    raw_chunks: list[bytes] | None = None

    def finish(self) -> None:
        """Fill answer and token counts from the raw upstream body or SSE chunks."""
        if self.raw_body is not None:
            _from_body(self, self.raw_body)
            self.raw_body = None
        if self.raw_chunks is not None:
            _from_sse(self, b"".join(self.raw_chunks))
            self.raw_chunks = None

    def row(self, record_text: bool = True) -> dict[str, Any]:
        """Return the database row."""
        data = {
            f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("raw_")
        }
        for name in _JSON_FIELDS:
            if data[name] is not None:
                data[name] = json.dumps(data[name])
        if not record_text:
            data["question"] = data["answer"] = None
        return data


COLUMNS: tuple[str, ...] = tuple(
    f.name for f in fields(TraceRecord) if not f.name.startswith("raw_")
)


def _usage(rec: TraceRecord, usage: Any) -> None:
    if isinstance(usage, dict):
        pt, ct = usage.get("prompt_tokens"), usage.get("completion_tokens")
        rec.prompt_tokens = pt if isinstance(pt, int) else rec.prompt_tokens
        rec.completion_tokens = ct if isinstance(ct, int) else rec.completion_tokens


def _from_body(rec: TraceRecord, raw: bytes) -> None:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return
    if not isinstance(data, dict):
        return
    _usage(rec, data.get("usage"))
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        first = choices[0]
        message = first.get("message")
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            rec.answer = message["content"]
        elif isinstance(first.get("text"), str):
            rec.answer = first["text"]
    if rec.upstream_model is None and isinstance(data.get("model"), str):
        rec.upstream_model = data["model"]


def _from_sse(rec: TraceRecord, raw: bytes) -> None:
    parts: list[str] = []
    for line in raw.split(b"\n"):
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if not payload or payload == b"[DONE]":
            continue
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(chunk, dict):
            continue
        _usage(rec, chunk.get("usage"))
        if rec.upstream_model is None and isinstance(chunk.get("model"), str):
            rec.upstream_model = chunk["model"]
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict):
                delta = choice.get("delta")
                if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                    parts.append(delta["content"])
                elif isinstance(choice.get("text"), str):
                    parts.append(choice["text"])
    rec.answer = "".join(parts)


def normalise_url(url: str) -> str:
    """Return a SQLAlchemy URL with the psycopg 3 driver for plain postgresql:// URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class TraceStore:
    """Rows in the ``llmops_traces`` table of a SQLAlchemy database."""

    TABLE = "llmops_traces"

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        self.url = normalise_url(url)
        if self.url.startswith("sqlite:///"):
            from pathlib import Path

            Path(self.url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
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

        meta = sa.MetaData()
        cols: list[sa.Column[Any]] = []
        types: dict[str, Any] = {
            "str": sa.String(255),
            "float": sa.Float,
            "int": sa.Integer,
            "bool": sa.Boolean,
        }
        for f in fields(TraceRecord):
            if f.name.startswith("raw_"):
                continue
            kind = str(f.type).split(" ")[0].replace("|", "").strip()
            if f.name in _JSON_FIELDS or f.name in ("question", "answer", "error_message"):
                col_type: Any = sa.Text
            else:
                col_type = types.get(kind, sa.String(255))
            cols.append(sa.Column(f.name, col_type))
        # Request ids come from clients too (x-request-id) and may repeat: not a key.
        self.table = sa.Table(
            self.TABLE,
            meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            *cols,
            sa.Index("ix_llmops_traces_route_ts", "route", "ts"),
            sa.Index("ix_llmops_traces_request_id", "request_id"),
        )
        meta.create_all(self.engine)
        style = self.engine.dialect.paramstyle
        mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(style)
        self._insert_sql: str | None = None
        if mark is not None:
            quote = (
                self.engine.dialect.identifier_preparer.quote
            )  # "user" is reserved in PostgreSQL
            self._insert_sql = (
                f"INSERT INTO {self.TABLE} ({', '.join(quote(c) for c in COLUMNS)}) "
                f"VALUES ({', '.join([mark] * len(COLUMNS))})"
            )

    def write(self, records: Iterable[TraceRecord], record_text: bool = True) -> int:
        """Insert records in one transaction; return how many."""
        rows = [r.row(record_text) for r in records]
        if not rows:
            return 0
        if self._insert_sql is None:
            with self.engine.begin() as conn:
                conn.execute(self.table.insert(), rows)
            return len(rows)
        # The driver's executemany with tuples: several times cheaper per row than Core's path.
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.executemany(self._insert_sql, [tuple(r[c] for c in COLUMNS) for r in rows])
            cur.close()
            raw.commit()
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
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
        for row in rows:
            for name in _JSON_FIELDS:
                if row[name] is not None:
                    row[name] = json.loads(row[name])
        return rows

    def count(self) -> int:
        """Return the number of stored traces."""
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one()
            )

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.engine.dispose()


Observer = Callable[[TraceRecord], None]


class TraceWriter:
    """A background thread that finishes records, notifies observers and writes batches."""

    def __init__(
        self,
        store: TraceStore | None,
        *,
        flush_interval: float = 0.5,
        batch_size: int = 500,
        record_text: bool = True,
        observers: list[Observer] | None = None,
    ) -> None:
        self.store = store
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.record_text = record_text
        self.observers = list(observers or [])
        self.max_backlog = max(batch_size, 100_000)
        self.max_retries = 5
        self._retries = 0
        self._queue: queue.SimpleQueue[TraceRecord | None] = queue.SimpleQueue()
        self._pending: list[TraceRecord] = []
        self._flushed = threading.Condition()
        self._submitted = 0
        self._done = 0
        self.written = 0
        self.write_seconds = 0.0
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name="llmops-trace-writer", daemon=True)
        self._thread.start()

    def submit(self, record: TraceRecord) -> None:
        """Queue a record; never blocks the caller."""
        self._submitted += 1
        self._queue.put(record)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is written; return False on timeout."""
        target = self._submitted
        self._queue.put(None)  # wake the thread so it flushes now
        deadline = time.monotonic() + timeout
        with self._flushed:
            while self._done < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._flushed.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Flush and stop the thread."""
        self.flush(timeout)
        self._stopping = True
        self._queue.put(None)
        self._thread.join(timeout)

    _stopping = False

    def _run(self) -> None:
        next_flush = time.monotonic() + self.flush_interval
        while True:
            timeout = max(0.0, next_flush - time.monotonic())
            force = False
            try:
                item = self._queue.get(timeout=timeout)
                if item is None:
                    force = True
                else:
                    self._take(item)
                    # Drain what is already queued without waiting.
                    while len(self._pending) < self.batch_size:
                        try:
                            more = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        if more is None:
                            force = True
                            break
                        self._take(more)
            except queue.Empty:
                force = True
            if force or len(self._pending) >= self.batch_size or time.monotonic() >= next_flush:
                self._write()
                next_flush = time.monotonic() + self.flush_interval
            if self._stopping and self._queue.empty():
                self._write()
                return

    def _take(self, record: TraceRecord) -> None:
        try:
            record.finish()
            for observer in self.observers:
                observer(record)
        except Exception:  # an observer bug must not lose the trace
            log.exception("trace observer failed")
        self._pending.append(record)

    def _write(self) -> None:
        batch, self._pending = self._pending, []
        if batch and self.store is not None:
            start = time.perf_counter()
            try:
                self.written += self.store.write(batch, self.record_text)
            except Exception:
                self.errors += 1
                self.write_seconds += time.perf_counter() - start
                self._retries += 1
                if self._retries <= self.max_retries:
                    log.exception(
                        "writing %d traces failed; retrying at the next flush", len(batch)
                    )
                    # Keep a bounded backlog while the database is away; drop the oldest beyond.
                    self._pending = (batch + self._pending)[-self.max_backlog :]
                    return
                log.exception(
                    "writing %d traces failed %d times; dropping them", len(batch), self._retries
                )
            else:
                self.write_seconds += time.perf_counter() - start
            self._retries = 0
        with self._flushed:
            self._done += len(batch)
            self._flushed.notify_all()


def record_dict(record: TraceRecord) -> dict[str, Any]:
    """Return a record as a plain dict (for logs and tests)."""
    return {k: v for k, v in asdict(record).items() if not k.startswith("raw_")}
