"""Query-drift results kept in the trace store, so the report and the dashboard reuse them.

The query-drift test (an MMD permutation test on up to ``max_window`` embedded queries per side,
the lowest ``sample_u`` of the window: a hash-of-request-id sample, reproducible) is the one
monitor signal that is not a sum over rollups. ``llmops monitor watch`` computes it every tick
for each of ``monitor.drift.cache_windows`` (and any reader that had to compute one stores it
too); a reader asking for the window ``[end - L, end)`` of a route takes the stored result of
the same route, window length ``L`` and reference when:

- it was computed on a window ending at most ``monitor.drift.cache_fresh`` before ``end``, and
  at most a twelfth of the window length before (5 minutes of a 1-hour window): a result older
  than its window is never shown, and the windows overlap by 11/12 at least;
- no query has been embedded since (the newest embedded trace id is the one it saw: vectors are
  written only by the scorer, in trace-id order, so a new one always raises it);
- the reference is the same: the key hashes the reference (golden set file and its size and
  modification time, or the reference span), the embedding model and every drift setting.

A result that fails either rule is recomputed from the store and replaces the stored one. A
reused result says so: its evidence carries ``cached: {computed_at, window_end, age_s}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.hashing import sha256_text

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.monitor.queries import Window
    from llmops.traces.store import TraceStore

__all__ = ["CachedDrift", "DriftCache", "reference_key"]


def reference_key(settings: Settings, route: str) -> str:
    """Return the hash naming what a route's query drift is tested against, and how."""
    cfg = settings.monitor.drift
    golden = cfg.golden_sets.get(route)
    ref: dict[str, Any] = {"window": cfg.reference_window}
    if golden:
        file = Path(golden)
        file = file if file.is_absolute() else settings.root / file
        stat = file.stat() if file.is_file() else None
        ref = {
            "golden": str(file),
            "size": stat.st_size if stat else None,
            "mtime_ns": stat.st_mtime_ns if stat else None,
        }
    tests = cfg.model_dump(include={"alpha", "min_window", "max_window", "permutations"})
    tests["min_rate_change"] = cfg.min_rate_change
    return sha256_text(
        json.dumps([ref, tests, settings.embedding.model], sort_keys=True, default=str)
    )[:32]


@dataclass
class CachedDrift:
    """A stored result and when, and on which window, it was computed."""

    result: dict[str, Any]
    window_end: float
    computed_at: float
    vectors_seen: int = 0

    def age(self, end: float) -> float:
        """Return how far the stored window's end lies before ``end``."""
        return end - self.window_end


class DriftCache:
    """Read and write stored query-drift results of one trace store."""

    def __init__(self, store: TraceStore) -> None:
        self.store = store
        self.table = store.tables.drift_cache

    def vectors_seen(self) -> int:
        """Return the newest embedded trace id (primary-key lookup: constant time)."""
        import sqlalchemy as sa

        v = self.store.tables.vectors
        with self.store.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(v.c.trace_id))).scalar() or 0)

    def get(self, route: str, window: Window, reference: str, fresh_s: float) -> CachedDrift | None:
        """Return the stored result for ``window`` if it is fresh by the module's rules."""
        import sqlalchemy as sa

        t = self.table
        stmt = sa.select(t.c.window_end, t.c.computed_at, t.c.vectors_seen, t.c.result).where(
            t.c.route == route, t.c.window_s == window.seconds, t.c.reference == reference
        )
        with self.store.engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        found = CachedDrift(json.loads(row[3]), float(row[0]), float(row[1]), int(row[2]))
        age = found.age(window.end)
        if age < 0 or age > min(fresh_s, window.seconds / 12):
            return None  # a later window than ours (a clock in the past), or too old
        if found.vectors_seen != self.vectors_seen():
            return None  # queries were embedded since: their window may hold new ones
        return found

    def put(self, route: str, window: Window, reference: str, entry: CachedDrift) -> None:
        """Store ``entry`` as the result of ``route`` over windows of ``window``'s length."""
        import sqlalchemy as sa

        t = self.table
        key = (t.c.route == route, t.c.window_s == window.seconds, t.c.reference == reference)
        with self.store.engine.begin() as conn:
            current = conn.execute(sa.select(t.c.window_end).where(*key)).scalar()
            if current is not None and float(current) > window.end:
                return  # a newer window is stored already (another process)
            conn.execute(t.delete().where(*key))
            conn.execute(
                t.insert().values(
                    route=route, window_s=window.seconds, reference=reference,
                    window_end=window.end, computed_at=entry.computed_at,
                    vectors_seen=entry.vectors_seen, result=json.dumps(entry.result, default=str),
                )
            )  # fmt: skip
