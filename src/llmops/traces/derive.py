"""Fields derived from a finished trace, computed off the request path before it is stored.

Every write path (the gateway's writer, ``POST /v1/monitor/events``, predictions, migrations)
calls ``derive`` so the rollups count the same things whoever wrote the trace. Abstention uses
the eval harness's own decline patterns (``llmops.evals.metrics.behaviour.is_decline``), so a
trace abstains exactly when the ``hallucination`` eval metric would call it a decline.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmops.traces.record import TraceRecord

__all__ = ["REFUSAL_PATTERNS", "derive", "is_refusal", "sample_u"]

REFUSAL_PATTERNS = (
    r"\bI(?:'m| am) (?:sorry|afraid),? (?:but )?I (?:can(?:no|')t|won't|will not|am not able to)\b",
    r"\bI (?:can(?:no|')t|won't|will not) (?:help|assist|comply|do that|provide)\b",
    r"\b(?:not able|unable) to (?:help|assist|comply) with\b",
    r"\bagainst (?:my|the) (?:guidelines|policy|policies)\b",
)
_REFUSAL = re.compile("|".join(REFUSAL_PATTERNS), re.IGNORECASE)


def is_refusal(answer: str) -> bool:
    """Return True when ``answer`` refuses to help (as opposed to not knowing)."""
    return _REFUSAL.search(answer) is not None


def sample_u(key: str) -> float:
    """Return a uniform number in [0, 1) from a request id (same id, same number)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


@functools.cache
def _decline_check() -> Callable[[str], re.Match[str] | None]:
    # The eval metric's patterns as one compiled alternation: it matches exactly when one of
    # them does (``is_decline`` tries each in turn), at a fifth of the cost per trace.
    from llmops.evals.metrics.behaviour import DECLINE_PATTERNS

    return re.compile("|".join(f"(?:{p})" for p in DECLINE_PATTERNS), re.IGNORECASE).search


def _is_decline(answer: str) -> bool:
    return _decline_check()(answer) is not None


def derive(rec: TraceRecord) -> TraceRecord:
    """Fill the derived fields that are still empty; return the record."""
    if rec.sample_u is None:
        # A shadow call shares its primary's number, so both arms of a request are sampled
        # together and compare on the same traffic.
        rec.sample_u = sample_u(rec.shadow_of or rec.request_id)
    scores = rec.chunk_scores
    if scores and rec.top1_score is None:
        rec.top1_score = float(scores[0])
        rec.topk_score = float(scores[-1])
    if rec.guard_fired is None and rec.guards is not None:
        rec.guard_fired = any(isinstance(g, dict) and not g.get("passed", True) for g in rec.guards)
    if rec.chunk_sources is None and rec.raw_contexts:
        rec.chunk_sources = [getattr(c, "source", None) for c in rec.raw_contexts]
    answer = rec.answer
    if answer is not None and rec.answer_chars is None:
        rec.answer_chars = len(answer)
        rec.abstained = _is_decline(answer) if answer.strip() else True
        rec.refused = is_refusal(answer)
    return rec
