"""Groundedness for RAG routes: every answer sentence must be supported by a retrieved context.

A sentence is supported when its embedding's cosine similarity with some context sentence is at
least the threshold (default 0.55). Sentences shorter than ``min_words`` (greetings, "Sure.")
are not judged. The fix removes unsupported sentences or replaces the answer by an abstention.
"""

from __future__ import annotations

import re
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from llmops.guards.base import CheckContext, GuardBase, GuardResult, Span, clean_text, timed_result

__all__ = ["INFO", "GroundingGuard", "GroundingOptions", "split_sentences"]

_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+|\n+")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Return (start, end) of each non-empty sentence of ``text``."""
    out: list[tuple[int, int]] = []
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        if text[pos : m.start()].strip():
            out.append((pos, m.start()))
        pos = m.end()
    if text[pos:].strip():
        out.append((pos, len(text)))
    return out


class GroundingOptions(BaseModel):
    """Options of the ``groundedness`` guard."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(default="all-MiniLM-L6-v2")
    min_words: int = Field(default=4, ge=1, description="Shorter sentences are not judged.")
    fix: Literal["abstain", "remove"] = Field(
        default="abstain", description="abstain: replace the answer; remove: drop bad sentences."
    )
    abstention: str = Field(
        default="I can't answer that from the available sources.",
        description="The answer given instead when fix is abstain.",
    )
    max_context_sentences: int = Field(default=400, ge=1)


class GroundingGuard(GuardBase[GroundingOptions]):
    """Flag answer sentences that no retrieved context supports."""

    stages = ("output",)
    summary = "Each answer sentence must be supported by a retrieved context (RAG routes)."

    default_threshold = 0.55
    threshold: float

    def check(self, text: str, ctx: CheckContext) -> GuardResult:
        """Return unsupported sentences as spans; the score is their share of judged sentences."""
        from llmops.embeddings import get_embedder

        start = time.perf_counter()
        text = clean_text(text)
        judged = [
            (s, e)
            for s, e in split_sentences(text)
            if len(text[s:e].split()) >= self.options.min_words
        ]
        if not judged:
            return GuardResult(name=self.name, passed=True, details={"judged": 0})
        pieces = [c[s:e] for c in ctx.contexts for s, e in split_sentences(clean_text(c))][
            : self.options.max_context_sentences
        ]
        embedder = get_embedder(self.options.model)
        support = [0.0] * len(judged)
        if pieces:
            sims = embedder.encode([text[s:e] for s, e in judged]) @ embedder.encode(pieces).T
            support = [float(row.max()) for row in sims]
        spans = [
            Span(start=s, end=e, type="unsupported", text=text[s:e])
            for (s, e), sup in zip(judged, support, strict=True)
            if sup < self.threshold
        ]
        fixed = None
        if spans:
            if self.options.fix == "abstain":
                fixed = self.options.abstention
            else:
                bad = {(sp.start, sp.end) for sp in spans}
                kept = [text[s:e] for s, e in split_sentences(text) if (s, e) not in bad]
                fixed = " ".join(kept) or self.options.abstention
        return timed_result(
            self.name,
            start,
            passed=not spans,
            score=round(len(spans) / len(judged), 4),
            spans=spans,
            details={
                "judged": len(judged),
                "support": [round(s, 3) for s in support],
                "threshold": self.threshold,
                "contexts": len(ctx.contexts),
            },
            fixed=fixed,
        )


INFO = GroundingGuard.info("groundedness")
