"""Topic deny-list: fail when the text is semantically close to a denied topic description.

Cosine similarity of MiniLM embeddings; the default threshold 0.4 suits short descriptions
("medication dosage and prescription drugs"). Give two or three phrasings per topic.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llmops.guards.base import CheckContext, GuardBase, GuardResult, clean_text, timed_result

__all__ = ["INFO", "TopicGuard", "TopicOptions"]


class TopicOptions(BaseModel):
    """Options of the ``topic`` guard."""

    model_config = ConfigDict(extra="forbid")

    deny: list[str] = Field(
        default_factory=list,
        description="Short descriptions of denied topics, e.g. 'medical dosage advice'.",
    )
    model: str = Field(default="all-MiniLM-L6-v2")
    max_chars: int = Field(default=1000, ge=50, description="Characters of the text embedded.")


class TopicGuard(GuardBase[TopicOptions]):
    """Embed the text once and compare it with every denied topic (cosine similarity)."""

    stages = ("input", "output")
    summary = "Deny-list of topics by embedding similarity."
    fixable = False

    default_threshold = 0.4
    threshold: float
    _topics: Any = None

    def warm(self) -> None:
        """Embed the topic descriptions now."""
        from llmops.embeddings import get_embedder

        if self._topics is None and self.options.deny:
            self._topics = get_embedder(self.options.model).encode(self.options.deny)

    def check(self, text: str, ctx: CheckContext) -> GuardResult:
        """Return the best-matching denied topic and its similarity as the score."""
        from llmops.embeddings import get_embedder

        start = time.perf_counter()
        if not self.options.deny or not text.strip():
            return GuardResult(name=self.name, passed=True, latency_ms=0.0)
        self.warm()
        vec = get_embedder(self.options.model).encode([clean_text(text)[: self.options.max_chars]])
        sims = (vec @ self._topics.T)[0]
        best = int(sims.argmax())
        score = float(sims[best])
        return timed_result(
            self.name,
            start,
            passed=score < self.threshold,
            score=round(score, 4),
            details={"topic": self.options.deny[best], "threshold": self.threshold},
        )


INFO = TopicGuard.info("topic")
