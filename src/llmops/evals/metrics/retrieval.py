"""Retrieval metrics against a record's ``reference_sources``.

The target's contexts are taken in rank order; a context is relevant when its ``source`` is one
of the reference sources (a reference may also name a folder or a file whose chunks carry an
anchor, so ``topics/global.md`` matches ``topics/global.md#3``). Records without reference
sources (unanswerable questions) are not applicable. ``k`` defaults to 5.
"""

from __future__ import annotations

import math

from llmops.evals.metrics.base import BaseMetric, ItemContext, register_metric
from llmops.evals.records import MetricResult

__all__ = ["ContextPrecision", "ContextRecall", "HitAtK", "Mrr", "Ndcg", "source_matches"]


def source_matches(source: str | None, reference: str) -> bool:
    """Return True when a context's source is (inside) the reference source."""
    if not source:
        return False
    source, reference = source.strip("/"), reference.strip("/")
    if source == reference:
        return True
    return any(source.startswith(reference + sep) for sep in ("/", "#", "::"))


class _RetrievalMetric(BaseMetric):
    default_threshold = 0.5

    @property
    def k(self) -> int:
        return self.spec.k or 5

    async def evaluate(self, ctx: ItemContext) -> MetricResult:
        references = ctx.record.reference_sources
        if not references:
            return MetricResult.not_applicable("no reference sources")
        if ctx.output.error:
            return MetricResult.errored(f"target failed: {ctx.output.error}")
        sources = [str(c.get("source") or "") for c in ctx.output.contexts[: self.k]]
        # matched[i] = index of the reference the i-th context belongs to, or None
        matched: list[int | None] = []
        for source in sources:
            hit = next((j for j, ref in enumerate(references) if source_matches(source, ref)), None)
            matched.append(hit)
        return self.score(matched, len(references), sources)

    def score(self, matched: list[int | None], n_refs: int, sources: list[str]) -> MetricResult:
        raise NotImplementedError


class HitAtK(_RetrievalMetric):
    """1 when any of the top-k contexts comes from a reference source."""

    default_threshold = 1.0

    def score(self, matched: list[int | None], n_refs: int, sources: list[str]) -> MetricResult:
        hit = any(m is not None for m in matched)
        return self.result(float(hit), "" if hit else f"retrieved: {', '.join(sources[:3])}")


class Mrr(_RetrievalMetric):
    """Reciprocal rank of the first relevant context within the top k (0 when none)."""

    def score(self, matched: list[int | None], n_refs: int, sources: list[str]) -> MetricResult:
        for rank, m in enumerate(matched, start=1):
            if m is not None:
                return self.result(1.0 / rank, f"first relevant at rank {rank}")
        return self.result(0.0, "no relevant context")


class Ndcg(_RetrievalMetric):
    """nDCG@k with binary gains; each reference source earns its gain once."""

    def score(self, matched: list[int | None], n_refs: int, sources: list[str]) -> MetricResult:
        seen: set[int] = set()
        dcg = 0.0
        for rank, m in enumerate(matched, start=1):
            if m is not None and m not in seen:
                seen.add(m)
                dcg += 1.0 / math.log2(rank + 1)
        ideal = sum(1.0 / math.log2(r + 1) for r in range(1, min(self.k, n_refs) + 1))
        return self.result(dcg / ideal if ideal else 0.0)


class ContextPrecision(_RetrievalMetric):
    """Share of the top-k contexts that come from a reference source."""

    def score(self, matched: list[int | None], n_refs: int, sources: list[str]) -> MetricResult:
        if not matched:
            return self.result(0.0, "no contexts")
        return self.result(sum(m is not None for m in matched) / len(matched))


class ContextRecall(_RetrievalMetric):
    """Share of the reference sources found in the top-k contexts."""

    def score(self, matched: list[int | None], n_refs: int, sources: list[str]) -> MetricResult:
        found = {m for m in matched if m is not None}
        return self.result(len(found) / n_refs)


register_metric("hit-at-k", HitAtK)
register_metric("mrr", Mrr)
register_metric("ndcg", Ndcg)
register_metric("context-precision", ContextPrecision)
register_metric("context-recall", ContextRecall)
