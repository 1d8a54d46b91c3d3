"""The monitor's journal: every alert that fired and every action taken, with its evidence.

Rows live in ``llmops_monitor_events`` beside the traces, so cool-downs and budgets hold across
restarts and across several watchers; the latest signal values for ``/metrics`` live in
``llmops_monitor_signals``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.traces.store import TraceStore

__all__ = ["Entry", "Journal", "publish_signals", "read_signals"]


@dataclass
class Entry:
    """One journal row."""

    id: int
    ts: float
    kind: str  # alert | action
    rule: str | None
    action: str | None
    route: str | None
    status: str
    reason: str | None
    evidence: dict[str, Any] | None
    result: dict[str, Any] | None


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


class Journal:
    """Append and read journal rows."""

    def __init__(self, store: TraceStore) -> None:
        self.store = store
        self.table = store.tables.events

    def record(self, entry: dict[str, Any]) -> int:
        """Append a row (``kind``, ``ts``, ``status`` and optional fields); return its id."""
        row = {
            "ts": entry["ts"],
            "kind": entry["kind"],
            "rule": entry.get("rule"),
            "action": entry.get("action"),
            "route": entry.get("route"),
            "status": entry["status"],
            "reason": entry.get("reason"),
            "evidence": _dump(entry.get("evidence")),
            "result": _dump(entry.get("result")),
        }
        with self.store.engine.begin() as conn:
            key = conn.execute(self.table.insert().values(**row)).inserted_primary_key
        return int(key[0]) if key else 0

    def last(
        self,
        action: str,
        route: str | None,
        statuses: Sequence[str],
        *,
        rule: str | None = None,
    ) -> Entry | None:
        """Return the newest row of ``action`` (for ``route``, ``rule``) with one of ``statuses``."""
        import sqlalchemy as sa

        t = self.table
        stmt = sa.select(t).where(t.c.kind == "action", t.c.action == action)
        stmt = stmt.where(t.c.status.in_(list(statuses)))
        if route is not None:
            stmt = stmt.where(t.c.route == route)
        if rule is not None:
            stmt = stmt.where(t.c.rule == rule)
        stmt = stmt.order_by(t.c.ts.desc(), t.c.id.desc()).limit(1)
        with self.store.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return _entry(row._mapping) if row is not None else None

    def count(self, action: str, since: float, statuses: Sequence[str]) -> int:
        """Return how many ``action`` rows with ``statuses`` there are since ``since``."""
        import sqlalchemy as sa

        t = self.table
        stmt = sa.select(sa.func.count()).where(
            t.c.kind == "action", t.c.action == action, t.c.ts >= since,
            t.c.status.in_(list(statuses)),
        )  # fmt: skip
        with self.store.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def entries(self, *, since: float | None = None, limit: int = 100) -> list[Entry]:
        """Return the newest rows first."""
        import sqlalchemy as sa

        t = self.table
        stmt = sa.select(t).order_by(t.c.ts.desc(), t.c.id.desc()).limit(limit)
        if since is not None:
            stmt = stmt.where(t.c.ts >= since)
        with self.store.engine.connect() as conn:
            return [_entry(r._mapping) for r in conn.execute(stmt)]


def _entry(m: Any) -> Entry:
    return Entry(
        id=int(m["id"]),
        ts=float(m["ts"]),
        kind=m["kind"],
        rule=m["rule"],
        action=m["action"],
        route=m["route"],
        status=m["status"],
        reason=m["reason"],
        evidence=json.loads(m["evidence"]) if m["evidence"] else None,
        result=json.loads(m["result"]) if m["result"] else None,
    )


def publish_signals(
    store: TraceStore, values: Iterable[tuple[str, dict[str, str], float | None]], ts: float
) -> int:
    """Replace the published value of each (metric name, labels); return how many."""
    import sqlalchemy as sa

    t = store.tables.signals
    rows = [
        {"name": name, "labels": json.dumps(labels, sort_keys=True), "value": value, "ts": ts}
        for name, labels, value in values
    ]
    if not rows:
        return 0
    with store.engine.begin() as conn:
        for row in rows:
            done = conn.execute(
                t.update()
                .where(t.c.name == row["name"], t.c.labels == row["labels"])
                .values(value=row["value"], ts=ts)
            )
            if not done.rowcount:
                conn.execute(t.insert().values(**row))
        # A route without traffic any more (or a removed rule) stops being exported.
        conn.execute(sa.delete(t).where(t.c.ts < ts))
    return len(rows)


def read_signals(store: TraceStore) -> list[tuple[str, dict[str, str], float | None, float]]:
    """Return every published (metric name, labels, value, ts)."""
    import sqlalchemy as sa

    t = store.tables.signals
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.name, t.c.labels, t.c.value, t.c.ts)).fetchall()
    return [(n, json.loads(labels), v, ts) for n, labels, v, ts in rows]
