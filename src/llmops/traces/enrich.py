"""The monitors' work on each trace before it is stored: derive, flag coverage, sample.

Runs on the trace writer's thread (and in ``POST /v1/monitor/events``), never on the request
path. Context texts are kept only for sampled traces: the scorer needs them, the rest of the
traffic does not pay for storing them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmops.traces.derive import derive
from llmops.traces.record import TraceRecord
from llmops.traces.sampling import Sampler

__all__ = ["CoverageLookup", "TraceEnricher", "context_dict"]

#: (pipeline, index version) -> the top-1 score below which a query is out of coverage, or None
CoverageLookup = Callable[[str, str], float | None]
_COSINE_MODES = (None, "dense", "mmr")


def context_dict(context: Any) -> dict[str, Any]:
    """Return a retrieved context (provider ``Context`` or dict) as {id, text, source, score}."""
    if isinstance(context, dict):
        return {k: context.get(k) for k in ("id", "text", "source", "score")}
    return {k: getattr(context, k, None) for k in ("id", "text", "source", "score")}


class TraceEnricher:
    """Derive, flag out-of-coverage queries, decide the sample, keep sampled contexts."""

    def __init__(
        self,
        sampler: Sampler | None,
        *,
        coverage: CoverageLookup | None = None,
        fallback: Callable[[TraceRecord], bool | None] | None = None,
    ) -> None:
        self.sampler = sampler
        self.coverage = coverage
        self.fallback = fallback

    def __call__(self, rec: TraceRecord) -> None:
        derive(rec)
        if self.fallback is not None and rec.fallback is None:
            rec.fallback = self.fallback(rec)
        if (
            self.coverage is not None
            and rec.out_of_coverage is None
            and rec.top1_score is not None
            and rec.index_pipeline
            and rec.index_version
            and rec.retrieval_mode in _COSINE_MODES
        ):
            threshold = self.coverage(rec.index_pipeline, rec.index_version)
            if threshold is not None:
                rec.out_of_coverage = rec.top1_score < threshold
        if self.sampler is not None and rec.sampled is None:
            self.sampler.decide(rec)
        if rec.sampled and rec.raw_contexts and rec.contexts is None:
            rec.contexts = [context_dict(c) for c in rec.raw_contexts]
        rec.raw_contexts = None
