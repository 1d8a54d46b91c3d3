"""Offline groundedness: is every answer sentence supported by a retrieved context?

A sentence is supported when it appears in a context (after folding case and punctuation;
``[id]`` citations are ignored) or its embedding (the local model) has cosine similarity of at
least ``options.support`` (default 0.6) with some context sentence. The score is the share of
supported sentences; the default threshold (1.0) fails an answer with any unsupported sentence.
Abstentions and answers without contexts are not applicable. No judge, no network: the eval
suites and the production monitors (``llmops monitor``) score answers with this same class.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

from llmops.evals.metrics.base import BaseMetric, ItemContext, register_metric
from llmops.evals.metrics.behaviour import is_decline
from llmops.evals.records import MetricResult

if TYPE_CHECKING:
    from llmops.embeddings import Embedder

__all__ = ["Groundedness", "claims_and_pieces", "sentence_support"]

_CITATION = re.compile(r"\s*\[[^\]\s]{1,80}\]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(`])|\n+")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if len(s.strip()) > 2]


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def claims_and_pieces(answer: str, contexts: list[str]) -> tuple[list[str], list[str]]:
    """Return the answer sentences to check and the context sentences to check them against."""
    claims = _sentences(_CITATION.sub("", answer))
    return claims, [s for t in contexts for s in _sentences(t)] or contexts


def sentence_support(
    embedder: Embedder, answer: str, contexts: list[str]
) -> list[tuple[str, float]]:
    """Return each answer sentence with its best support in ``contexts`` (1.0 = quoted)."""
    claims, pieces = claims_and_pieces(answer, contexts)
    if not claims:
        return []
    joined = " ".join(_normal(t) for t in contexts)
    scores = (embedder.encode(claims) @ embedder.encode(pieces).T).max(axis=1)
    return [
        (claim, 1.0 if _normal(claim) and _normal(claim) in joined else float(score))
        for claim, score in zip(claims, scores, strict=True)
    ]


class Groundedness(BaseMetric):
    """Share of answer sentences a retrieved context supports."""

    default_threshold = 1.0

    def configure(self) -> None:
        support = self.option("support", 0.6)
        if not isinstance(support, int | float) or not 0 < float(support) <= 1:
            raise self.bad_value("options.support must be a number in (0, 1]")
        self.support = float(support)

    async def evaluate(self, ctx: ItemContext) -> MetricResult:
        if ctx.output.error:
            return MetricResult.errored(f"target failed: {ctx.output.error}")
        answer = ctx.output.answer
        if not answer.strip() or is_decline(answer):
            return MetricResult.not_applicable("the answer abstains")
        contexts = [str(c.get("text") or "") for c in ctx.output.contexts]
        contexts = [c for c in contexts if c.strip()]
        if not contexts:
            return MetricResult.not_applicable("no retrieved context texts to check against")
        embedder = ctx.services.embedder()
        pairs = await asyncio.to_thread(sentence_support, embedder, answer, contexts)
        if not pairs:
            return MetricResult.not_applicable("no sentence to check")
        bad = [(claim, score) for claim, score in pairs if score < self.support]
        details: dict[str, Any] = {
            "sentences": len(pairs),
            "unsupported": [claim for claim, _ in bad],
            "support": [round(score, 3) for _, score in pairs],
        }
        reason = f"{len(bad)} of {len(pairs)} sentence(s) unsupported" if bad else ""
        return self.result(1 - len(bad) / len(pairs), reason, **details)


register_metric("groundedness", Groundedness)
