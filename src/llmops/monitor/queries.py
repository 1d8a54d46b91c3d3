"""Read the trace store for the monitors (and the dashboard): everything aggregates in SQL.

Each function returns plain dataclasses. Rollup queries sum minute rows (windows align to whole
minutes); scored-sample queries sum Horvitz-Thompson terms over the sampled rows through the
``(sampled, route, ts)`` index; trace listings are keyset-paginated. Nothing here loads every
trace of a window into Python.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmops.traces.rollup import BINS, BUCKET_S, COUNTERS, HOUR_S, SOURCE_BUCKET_S

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from llmops.traces.store import TraceStore

__all__ = [
    "RollupTotals",
    "ScoredSums",
    "Window",
    "all_source_counts",
    "merge_totals",
    "merge_scored",
    "rollup_totals",
    "routes_in",
    "scored_sums",
    "skew_summary",
    "source_counts",
    "window_vectors",
]


@dataclass(frozen=True)
class Window:
    """A half-open time span [start, end) in seconds since the epoch."""

    start: float
    end: float

    @classmethod
    def last(cls, seconds: float, now: float | None = None) -> Window:
        """Return the span of ``seconds`` ending now (or at ``now``)."""
        end = time.time() if now is None else now
        return cls(end - seconds, end)

    @property
    def seconds(self) -> float:
        """Return the length."""
        return self.end - self.start

    def before(self, seconds: float) -> Window:
        """Return the span of ``seconds`` just before this one (a reference window)."""
        return Window(self.start - seconds, self.start)

    def shifted(self, steps: int) -> Window:
        """Return the window ``steps`` lengths earlier."""
        return Window(self.start - steps * self.seconds, self.end - steps * self.seconds)

    def as_dict(self) -> dict[str, float]:
        """Return start and end."""
        return {"start": self.start, "end": self.end}


@dataclass
class RollupTotals:
    """Counters and histograms summed over a window for one group."""

    keys: dict[str, str]
    counts: dict[str, float]
    bins: dict[str, list[float]]

    def __getitem__(self, name: str) -> float:
        return self.counts.get(name, 0.0)


def _bucket_range(window: Window, width: int) -> tuple[int, int]:
    return int(window.start // width) * width, int(window.end // width) * width + (
        0 if window.end % width == 0 else width
    )


def _parts(store: TraceStore, window: Window) -> list[tuple[Any, int, int]]:
    """Return (table, first bucket, end bucket): hour rows inside, minute rows at the edges."""
    start, end = _bucket_range(window, BUCKET_S)
    h_start = -(-start // HOUR_S) * HOUR_S
    h_end = end // HOUR_S * HOUR_S
    minute, hourly = store.tables.rollup, store.tables.rollup_hourly
    if h_start >= h_end:
        return [(minute, start, end)]
    parts = [(hourly, h_start, h_end)]
    if start < h_start:
        parts.append((minute, start, h_start))
    if h_end < end:
        parts.append((minute, h_end, end))
    return parts


def _add(into: RollupTotals, other: RollupTotals) -> None:
    for name, value in other.counts.items():
        into.counts[name] = into.counts.get(name, 0.0) + value
    for name, values in other.bins.items():
        into.bins[name] = [a + b for a, b in zip(into.bins[name], values, strict=True)]


def _merge_by(rows: Sequence[Any], by: Sequence[str], new: Any, add: Any) -> list[Any]:
    """Return ``rows`` summed per distinct value of the keys ``by``: ``new(keys)`` starts a
    group, ``add(group, row)`` adds a row to it."""
    out: dict[tuple[str, ...], Any] = {}
    for row in rows:
        key = tuple(row.keys[k] for k in by)
        if key not in out:
            out[key] = new(dict(zip(by, key, strict=True)), row)
        add(out[key], row)
    return list(out.values())


def merge_totals(rows: list[RollupTotals], by: Sequence[str]) -> list[RollupTotals]:
    """Return ``rows`` summed per distinct value of the keys ``by``."""

    def new(keys: dict[str, str], row: RollupTotals) -> RollupTotals:
        return RollupTotals(keys, {}, {k: [0.0] * len(v) for k, v in row.bins.items()})

    return _merge_by(rows, by, new, _add)


@functools.lru_cache(maxsize=32)
def _rollup_sql(table: str, group_by: tuple[str, ...], by_route: bool) -> str:
    """Return the SUM query of one rollup table (built once: 90 columns of SQL)."""
    value_cols = [*COUNTERS, *(c for b in BINS.values() for c in b.columns)]
    select = ", ".join([*group_by, *(f"SUM({c}) AS {c}" for c in value_cols)])
    where = "bucket >= :start AND bucket < :end" + (" AND route = :route" if by_route else "")
    group = f" GROUP BY {', '.join(group_by)}" if group_by else ""
    return f"SELECT {select} FROM {table} WHERE {where}{group}"


def rollup_totals(
    store: TraceStore,
    window: Window,
    *,
    route: str | None = None,
    group_by: Sequence[str] = ("route",),
) -> list[RollupTotals]:
    """Return summed rollups per group (``route``, ``arm``, ``prompt``, ...) in ``window``.

    Whole hours are read from the hourly rows, the partial hours at the edges from the minute
    rows (windows align to whole minutes).
    """
    import sqlalchemy as sa

    keys = tuple(group_by)
    found: list[RollupTotals] = []
    with store.engine.connect() as conn:
        for t, start, end in _parts(store, window):
            sql = sa.text(_rollup_sql(t.name, keys, route is not None))
            params: dict[str, Any] = {"start": start, "end": end}
            if route is not None:
                params["route"] = route
            for row in conn.execute(sql, params):
                m = row._mapping
                if m["n"] is None:
                    continue
                counts = {c: float(m[c] or 0) for c in COUNTERS}
                bins = {name: [float(m[c] or 0) for c in b.columns] for name, b in BINS.items()}
                found.append(RollupTotals({g: str(m[g]) for g in keys}, counts, bins))
    return merge_totals(found, keys)


def routes_in(store: TraceStore, window: Window) -> list[str]:
    """Return the routes with traffic in ``window``."""
    return sorted(r.keys["route"] for r in rollup_totals(store, window) if r["n"] > 0)


def source_counts(
    store: TraceStore, window: Window, route: str | None
) -> dict[str, tuple[float, float]]:
    """Return source -> (retrieved chunks, times ranked first) in ``window`` (whole hours)."""
    by_route = all_source_counts(store, window)
    out: dict[str, tuple[float, float]] = {}
    for (r, source), (n, top) in by_route.items():
        if route is None or r == route:
            n0, t0 = out.get(source, (0.0, 0.0))
            out[source] = (n0 + n, t0 + top)
    return out


def all_source_counts(
    store: TraceStore, window: Window
) -> dict[tuple[str, str], tuple[float, float]]:
    """Return (route, source) -> (retrieved chunks, times ranked first), one query."""
    import sqlalchemy as sa

    t = store.tables.sources
    start, end = _bucket_range(window, SOURCE_BUCKET_S)
    stmt = (
        sa.select(t.c.route, t.c.source, sa.func.sum(t.c.n), sa.func.sum(t.c.top1))
        .where(t.c.bucket >= start, t.c.bucket < end)
        .group_by(t.c.route, t.c.source)
    )
    with store.engine.connect() as conn:
        return {
            (str(r), str(s)): (float(n or 0), float(top or 0))
            for r, s, n, top in conn.execute(stmt)
        }


@dataclass
class ScoredSums:
    """Horvitz-Thompson sums of one group's sampled traces."""

    keys: dict[str, str]
    sampled: int = 0
    scored: int = 0
    errors: int = 0
    judged: int = 0
    sums: dict[str, dict[str, float]] = field(default_factory=dict)  # outcome -> sum_w, ...
    last_error: str | None = None


def _ht_terms(sa: Any, flag: Any, known: Any, pi: Any) -> list[Any]:
    w = 1.0 / pi
    a = (1.0 - pi) / (pi * pi)
    return [
        sa.func.sum(sa.case((known, w), else_=0.0)),
        sa.func.sum(sa.case((flag, w), else_=0.0)),
        sa.func.sum(sa.case((known, a), else_=0.0)),
        sa.func.sum(sa.case((flag, a), else_=0.0)),
        sa.func.sum(sa.case((known, w * w), else_=0.0)),
        sa.func.sum(sa.case((known, 1), else_=0)),
        sa.func.sum(sa.case((flag, 1), else_=0)),
    ]


_TERMS = ("sum_w", "sum_wy", "sum_a", "sum_ay", "sum_w2", "n", "n_yes")


def _add_scored(into: ScoredSums, g: ScoredSums) -> None:
    into.sampled += g.sampled
    into.scored += g.scored
    into.errors += g.errors
    into.judged += g.judged
    into.last_error = into.last_error or g.last_error
    for outcome, terms in g.sums.items():
        for name, value in terms.items():
            into.sums[outcome][name] += value


def merge_scored(groups: list[ScoredSums], by: Sequence[str]) -> list[ScoredSums]:
    """Return ``groups`` summed per distinct value of the keys ``by``."""

    def new(keys: dict[str, str], g: ScoredSums) -> ScoredSums:
        return ScoredSums(keys, sums={o: dict.fromkeys(_TERMS, 0.0) for o in g.sums})

    return _merge_by(groups, by, new, _add_scored)


def scored_sums(
    store: TraceStore,
    window: Window,
    *,
    route: str | None = None,
    group_by: Sequence[str] = ("route",),
    judge_threshold: float = 0.5,
) -> list[ScoredSums]:
    """Return, per group, sampled/scored counts and HT sums for unsupported and unfaithful."""
    import sqlalchemy as sa

    t = store.table
    pi = sa.func.coalesce(t.c.inclusion_p, 1.0)
    answered = sa.and_(t.c.unsupported.is_not(None))
    unsupported = sa.and_(answered, t.c.unsupported == sa.true())
    judged = t.c.judge_faithfulness.is_not(None)
    unfaithful = sa.and_(judged, t.c.judge_faithfulness < judge_threshold)
    cols = [
        *(t.c[g] for g in group_by),
        sa.func.count(),
        sa.func.sum(sa.case((t.c.scored_at.is_not(None), 1), else_=0)),
        sa.func.sum(sa.case((t.c.score_error.is_not(None), 1), else_=0)),
        sa.func.sum(sa.case((judged, 1), else_=0)),
        *_ht_terms(sa, unsupported, answered, pi),
        *_ht_terms(sa, unfaithful, judged, pi),
        sa.func.max(t.c.score_error),
    ]
    stmt = sa.select(*cols).where(t.c.sampled == sa.true(), t.c.ts >= window.start)
    stmt = stmt.where(t.c.ts < window.end)
    if route is not None:
        stmt = stmt.where(t.c.route == route)
    if group_by:
        stmt = stmt.group_by(*(t.c[g] for g in group_by))
    out = []
    with store.engine.connect() as conn:
        for row in conn.execute(stmt):
            values = list(row)
            keys = {g: "" if v is None else str(v) for g, v in zip(group_by, values, strict=False)}
            rest = values[len(group_by) :]
            sums = {
                "unsupported": {k: float(v or 0) for k, v in zip(_TERMS, rest[4:11], strict=True)},
                "unfaithful": {k: float(v or 0) for k, v in zip(_TERMS, rest[11:18], strict=True)},
            }
            out.append(
                ScoredSums(keys, int(rest[0]), int(rest[1] or 0), int(rest[2] or 0),
                           int(rest[3] or 0), sums, rest[18])
            )  # fmt: skip
    return out


def window_vectors(
    store: TraceStore, window: Window, route: str | None, limit: int
) -> tuple[npt.NDArray[np.float32] | None, list[str]]:
    """Return up to ``limit`` embedded queries of ``window`` (lowest sample_u: uniform)."""
    import numpy as np
    import sqlalchemy as sa

    v = store.tables.vectors
    stmt = (
        sa.select(v.c.vec, v.c.question)
        .where(v.c.ts >= window.start, v.c.ts < window.end)
        .order_by(v.c.sample_u)
        .limit(limit)
    )
    if route is not None:
        stmt = stmt.where(v.c.route == route)
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).fetchall()
    if not rows:
        return None, []
    matrix = np.stack([np.frombuffer(r[0], dtype=np.float32) for r in rows])
    return matrix, [str(r[1] or "") for r in rows]


def skew_summary(store: TraceStore, window: Window) -> dict[str, float]:
    """Return how many events in ``window`` arrived with a clock ahead of ours, and by how much."""
    import sqlalchemy as sa

    t = store.table
    stmt = sa.select(sa.func.count(), sa.func.max(t.c.ts_client - t.c.ts)).where(
        t.c.ts >= window.start, t.c.ts < window.end, t.c.ts_client.is_not(None)
    )
    with store.engine.connect() as conn:
        count, worst = conn.execute(stmt).one()
    return {"events": float(count or 0), "max_ahead_s": round(float(worst or 0), 1)}
