"""Rollups written with each batch of traces: counts, sums and histograms per minute and key.

A report over a million traces reads a few thousand rollup rows instead of the traces. Each row
is one minute (``BUCKET_S``) of one (route, arm, prompt, index version, upstream); counters add
up, and fixed histograms (latency, top-1 and top-k retrieval scores, answer length) let the
monitors compute percentiles, KS and PSI without the raw values. The same rows are kept per hour
too (``HOUR_S``), so a window reads hour rows for its whole hours and minute rows only at its
edges: a week costs about as much as a day. Retrieved sources are counted per hour in a third
table. All are upserted in the transaction that inserts the traces, so a rollup never counts a
trace that was not stored.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.traces.record import TraceRecord

__all__ = [
    "BINS",
    "BUCKET_S",
    "COUNTERS",
    "HOUR_S",
    "KEYS",
    "ROLLUP_COLUMNS",
    "SOURCE_BUCKET_S",
    "Bins",
    "RollupBatch",
]

BUCKET_S = 60
HOUR_S = 3600
SOURCE_BUCKET_S = 3600
KEYS = ("bucket", "route", "arm", "prompt", "index_version", "upstream")
COUNTERS = (
    "n",
    "errors",  # status >= 500
    "client_errors",  # 400 <= status < 500
    "guard_blocks",
    "guard_fired",
    "fallbacks",
    "shadow",
    "rag",  # a retrieval ran
    "empty_retrieval",
    "coverage_known",
    "out_of_coverage",
    "answered",
    "abstained",
    "refused",
    "answer_chars",
    "prompt_tokens",
    "completion_tokens",
    "latency_n",
    "latency_ms",
    "sampled",
    "feedback_n",
    "feedback_neg",
)


@dataclass(frozen=True)
class Bins:
    """A fixed histogram: ``len(edges) + 1`` bins, bin i holds edges[i-1] <= x < edges[i]."""

    name: str
    edges: tuple[float, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """Return the rollup column of each bin."""
        return tuple(f"{self.name}_{i:02d}" for i in range(len(self.edges) + 1))

    def index(self, value: float) -> int:
        """Return the bin of ``value``."""
        return bisect.bisect_right(self.edges, value)


_SCORE_EDGES = tuple(round(0.05 * i, 2) for i in range(0, 21))  # 0, 0.05, ..., 1.0
BINS: dict[str, Bins] = {
    "latency": Bins(
        "lat",
        (1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000)
        + (5000, 7500, 10000, 20000, 30000, 60000),
    ),
    "top1": Bins("top1", _SCORE_EDGES),
    "topk": Bins("topk", _SCORE_EDGES),
    "answer_chars": Bins("alen", (1, 20, 50, 100, 200, 400, 800, 1600, 3200, 6400)),
}
ROLLUP_COLUMNS: tuple[str, ...] = COUNTERS + tuple(c for b in BINS.values() for c in b.columns)
_BIN_OFFSET: dict[str, int] = {}
_offset = len(COUNTERS)
for _name, _bins in BINS.items():
    _BIN_OFFSET[_name] = _offset
    _offset += len(_bins.columns)
_INDEX = {name: i for i, name in enumerate(ROLLUP_COLUMNS)}


def key_of(rec: TraceRecord) -> tuple[Any, ...]:
    """Return the rollup key of a record (missing parts are '', so the key is unique)."""
    prompt = f"{rec.prompt_name}@{rec.prompt_version}" if rec.prompt_name else ""
    return (
        int(rec.ts // BUCKET_S) * BUCKET_S,
        rec.route or "",
        rec.arm or "",
        prompt,
        rec.index_version or "",
        rec.upstream or "",
    )


@dataclass
class RollupBatch:
    """The rollup rows of one batch of traces, ready to upsert."""

    rows: dict[tuple[Any, ...], list[float]] = field(default_factory=dict)
    sources: dict[tuple[int, str, str], list[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, records: Iterable[TraceRecord]) -> RollupBatch:
        """Return the rollup of ``records``."""
        batch = cls()
        for rec in records:
            batch.add(rec)
        return batch

    def add(self, rec: TraceRecord) -> None:  # noqa: C901 - one counter per line, on purpose
        """Count one record."""
        key = key_of(rec)
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = [0.0] * len(ROLLUP_COLUMNS)
        ix = _INDEX
        row[0] += 1
        status = rec.status
        if status >= 500:
            row[ix["errors"]] += 1
        elif status >= 400:
            row[ix["client_errors"]] += 1
        if rec.error_code and rec.error_code.startswith("guardrail_blocked"):
            row[ix["guard_blocks"]] += 1
        if rec.guard_fired:
            row[ix["guard_fired"]] += 1
        if rec.fallback:
            row[ix["fallbacks"]] += 1
        if rec.shadow_of:
            row[ix["shadow"]] += 1
        if rec.chunk_ids is not None:
            row[ix["rag"]] += 1
            if not rec.chunk_ids:
                row[ix["empty_retrieval"]] += 1
        if rec.out_of_coverage is not None:
            row[ix["coverage_known"]] += 1
            if rec.out_of_coverage:
                row[ix["out_of_coverage"]] += 1
        if rec.answer_chars is not None and status == 200:
            row[ix["answered"]] += 1
            row[ix["answer_chars"]] += rec.answer_chars
            row[_BIN_OFFSET["answer_chars"] + BINS["answer_chars"].index(rec.answer_chars)] += 1
            if rec.abstained:
                row[ix["abstained"]] += 1
            if rec.refused:
                row[ix["refused"]] += 1
        if rec.prompt_tokens:
            row[ix["prompt_tokens"]] += rec.prompt_tokens
        if rec.completion_tokens:
            row[ix["completion_tokens"]] += rec.completion_tokens
        if rec.latency_ms is not None:
            row[ix["latency_n"]] += 1
            row[ix["latency_ms"]] += rec.latency_ms
            row[_BIN_OFFSET["latency"] + BINS["latency"].index(rec.latency_ms)] += 1
        if rec.top1_score is not None:
            row[_BIN_OFFSET["top1"] + BINS["top1"].index(rec.top1_score)] += 1
        if rec.topk_score is not None:
            row[_BIN_OFFSET["topk"] + BINS["topk"].index(rec.topk_score)] += 1
        if rec.sampled:
            row[ix["sampled"]] += 1
        if rec.feedback is not None:
            row[ix["feedback_n"]] += 1
            if rec.feedback < 0:
                row[ix["feedback_neg"]] += 1
        if rec.chunk_sources:
            hour = int(rec.ts // SOURCE_BUCKET_S) * SOURCE_BUCKET_S
            route = rec.route or ""
            for rank, source in enumerate(rec.chunk_sources):
                skey = (hour, route, source or "")
                counts = self.sources.get(skey)
                if counts is None:
                    counts = self.sources[skey] = [0, 0]
                counts[0] += 1
                if rank == 0:
                    counts[1] += 1

    def add_delta(self, rec: TraceRecord, column: str, amount: float) -> None:
        """Add ``amount`` to one counter of ``rec``'s row (a later change, e.g. feedback)."""
        key = key_of(rec)
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = [0.0] * len(ROLLUP_COLUMNS)
        row[_INDEX[column]] += amount

    def params(self) -> list[tuple[Any, ...]]:
        """Return the minute upsert parameters: key columns then every rollup column."""
        return [(*key, *(_num(v) for v in row)) for key, row in self.rows.items()]

    def hour_params(self) -> list[tuple[Any, ...]]:
        """Return the same rows summed per hour."""
        hours: dict[tuple[Any, ...], list[float]] = {}
        for key, row in self.rows.items():
            hkey = (int(key[0] // HOUR_S) * HOUR_S, *key[1:])
            found = hours.get(hkey)
            if found is None:
                hours[hkey] = list(row)
            else:
                for i, value in enumerate(row):
                    found[i] += value
        return [(*key, *(_num(v) for v in row)) for key, row in hours.items()]

    def source_params(self) -> list[tuple[Any, ...]]:
        """Return the source-table upsert parameters."""
        return [(*key, n, top) for key, (n, top) in self.sources.items()]


def _num(value: float) -> float | int:
    return int(value) if value == int(value) else value
