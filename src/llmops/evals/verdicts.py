"""What a judge answers: verdict models, their parsers, and ragas' scores from detailed verdicts.

The combined RAG verdict (``judge-rag``) comes in two forms. The flat form gives each aspect a
``{score, verdict, reason}``. The detailed form (the shipped ``judge-rag`` rubric) gives the
judge's per-claim and per-context decisions, and the four scores are computed here with ragas'
own formulas (see ``score_detailed``), so one call reproduces ragas' decomposition.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llmops.validation import Share

__all__ = [
    "ASPECTS",
    "DetailedRagVerdict",
    "PairwiseVerdict",
    "RagScoring",
    "RagVerdict",
    "Verdict",
    "average_precision",
    "pairwise_score",
    "parse_json_reply",
    "parse_pairwise",
    "parse_rag_verdict",
    "parse_verdict",
    "score_detailed",
]


class _Reply(BaseModel):
    """A part of a judge's reply: keys the rubric did not ask for are ignored."""

    model_config = ConfigDict(extra="ignore")


ASPECTS = ("faithfulness", "answer_relevancy", "context_precision", "context_recall")


class Verdict(_Reply):
    """``{"score": 0..1, "verdict": "pass"|"fail", "reason": "..."}``."""

    score: Share
    verdict: Literal["pass", "fail"]
    reason: str = ""


class _FlatRagVerdict(_Reply):
    """The flat form: ``{aspect: {score, verdict, reason}}`` for all four aspects."""

    faithfulness: Verdict
    answer_relevancy: Verdict
    context_precision: Verdict
    context_recall: Verdict


class RagVerdict(_Reply):
    """All four RAG aspects from one reply; an aspect without a score is None, and ``missing``
    says why (ragas leaves it undefined, e.g. an answer that makes no claims)."""

    faithfulness: Verdict | None
    answer_relevancy: Verdict | None
    context_precision: Verdict | None
    context_recall: Verdict | None
    form: Literal["flat", "detailed"] = "flat"
    missing: dict[str, str] = Field(default_factory=dict)


class AnswerClaim(_Reply):
    """One claim of the answer and whether the contexts support it."""

    claim: str = ""
    supported: bool


class Relevancy(_Reply):
    """How well the answer addresses the question; non-committal answers score 0."""

    question: str = ""
    score: Share
    noncommittal: bool = False


class ContextUse(_Reply):
    """Whether one retrieved context was useful for arriving at the reference answer."""

    id: str = ""
    useful: bool

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class ReferenceClaim(_Reply):
    """One claim of the reference answer and whether it can be attributed to the contexts."""

    claim: str = ""
    attributed: bool


class DetailedRagVerdict(_Reply):
    """The judge's decisions; the scores are computed from them (``score_detailed``)."""

    answer_claims: list[AnswerClaim]
    answer_relevancy: Relevancy
    contexts: list[ContextUse] = Field(default_factory=list)
    reference_claims: list[ReferenceClaim] | None = None


def average_precision(useful: Sequence[bool]) -> float:
    """Return ragas' context precision: sum of precision@k x v_k over (useful contexts + 1e-10)."""
    hits, total = 0, 0.0
    for k, flag in enumerate(useful, start=1):
        if flag:
            hits += 1
            total += hits / k
    return total / (hits + 1e-10)


def _verdict(score: float, threshold: float, reason: str) -> Verdict:
    score = min(1.0, max(0.0, score))
    return Verdict(score=score, verdict="pass" if score >= threshold else "fail", reason=reason)


def _quote(claims: Sequence[str], limit: int = 2) -> str:
    shown = "; ".join(repr(c[:80]) for c in claims[:limit])
    return shown + (f" (+{len(claims) - limit} more)" if len(claims) > limit else "")


def _ordered_contexts(uses: list[ContextUse], context_ids: Sequence[str]) -> list[bool]:
    """Return the usefulness flags in the given rank order; raise ValueError when they don't fit."""
    ids = [str(i) for i in context_ids]
    by_id = {u.id: u.useful for u in uses}
    if len(uses) == len(ids) and set(by_id) == set(ids) and len(by_id) == len(ids):
        return [by_id[i] for i in ids]
    if len(uses) == len(ids):
        return [u.useful for u in uses]  # ids garbled but one verdict per context, in order
    raise ValueError(
        f"contexts: expected one verdict per context ({len(ids)}: {', '.join(ids)}), "
        f"got {len(uses)}"
    )


@dataclass(frozen=True)
class RagScoring:
    """How a combined verdict is judged: the pass ``threshold``, the ids of the contexts the
    judge saw in rank order (None: as the judge lists them), and whether the record has a
    reference answer (without one, context precision and recall are not scored)."""

    threshold: float = 0.5
    context_ids: Sequence[str] | None = None
    has_reference: bool = True


_DEFAULT_SCORING = RagScoring()


def score_detailed(
    detail: DetailedRagVerdict, scoring: RagScoring = _DEFAULT_SCORING
) -> RagVerdict:
    """Compute the four scores from the judge's decisions with ragas' formulas.

    faithfulness = supported / answer claims (no claims: undefined, as ragas' NaN);
    answer_relevancy = score, 0 when non-committal; context_precision = average precision of
    the useful flags in rank order; context_recall = attributed / reference claims (none:
    undefined). Without a reference the last two are undefined.
    """
    threshold, context_ids = scoring.threshold, scoring.context_ids
    missing: dict[str, str] = {}
    claims = detail.answer_claims
    faithfulness = None
    if claims:
        unsupported = [c.claim for c in claims if not c.supported]
        supported = len(claims) - len(unsupported)
        reason = f"{supported}/{len(claims)} answer claims supported by the contexts"
        if unsupported:
            reason += f"; unsupported: {_quote(unsupported)}"
        faithfulness = _verdict(supported / len(claims), threshold, reason)
    else:
        missing["faithfulness"] = "the answer makes no claims (ragas: undefined)"
    rel = detail.answer_relevancy
    relevancy = _verdict(
        0.0 if rel.noncommittal else rel.score,
        threshold,
        "non-committal answer (scored 0, as ragas)"
        if rel.noncommittal
        else f"answer addresses: {rel.question[:120]!r}"
        if rel.question
        else "judged relevancy",
    )
    precision = recall = None
    if not scoring.has_reference:
        missing["context_precision"] = missing["context_recall"] = "no reference answer"
    else:
        flags = (
            _ordered_contexts(detail.contexts, context_ids)
            if context_ids is not None
            else [c.useful for c in detail.contexts]
        )
        precision = _verdict(
            average_precision(flags),
            threshold,
            f"useful contexts in rank order: {''.join('1' if f else '0' for f in flags) or 'none'}",
        )
        if detail.reference_claims is None:
            raise ValueError("reference_claims: required when a reference answer is given")
        refs = detail.reference_claims
        if refs:
            absent = [c.claim for c in refs if not c.attributed]
            reason = f"{len(refs) - len(absent)}/{len(refs)} reference claims found in the contexts"
            if absent:
                reason += f"; missing: {_quote(absent)}"
            recall = _verdict((len(refs) - len(absent)) / len(refs), threshold, reason)
        else:
            missing["context_recall"] = "the reference makes no claims (ragas: undefined)"
    return RagVerdict(
        faithfulness=faithfulness,
        answer_relevancy=relevancy,
        context_precision=precision,
        context_recall=recall,
        form="detailed",
        missing=missing,
    )


def parse_json_reply(text: str) -> Any:
    """Return the JSON object in ``text`` (a bare object or one inside a ```json fence)."""
    text = text.strip()
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1)
    elif not text.startswith("{"):
        start, end = text.find("{"), text.rfind("}")
        if start >= 0 and end > start:
            text = text[start : end + 1]
    return json.loads(text)


def parse_verdict(text: str) -> Verdict:
    """Parse and validate one verdict; raise ValueError on anything else."""
    try:
        return Verdict.model_validate(parse_json_reply(text))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ValueError(str(exc).splitlines()[0]) from None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "reply"
    return f"{where}: {error['msg']}"


def parse_rag_verdict(text: str, scoring: RagScoring = _DEFAULT_SCORING) -> RagVerdict:
    """Parse and validate a combined four-aspect verdict, flat or detailed; raise ValueError.

    A reply with ``answer_claims`` is the detailed form: the scores are computed from the
    decisions (``score_detailed``), verdicts against ``scoring.threshold``. Anything else must be the
    flat form ``{aspect: {score, verdict, reason}}``.
    """
    try:
        data = parse_json_reply(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("the reply must be one JSON object")
    try:
        if "answer_claims" in data:
            detail = DetailedRagVerdict.model_validate(data)
            return score_detailed(detail, scoring)
        flat = _FlatRagVerdict.model_validate(data)
    except ValidationError as exc:
        raise ValueError(_first_error(exc)) from None
    return RagVerdict(**{a: getattr(flat, a) for a in ASPECTS}, form="flat")


class PairwiseVerdict(_Reply):
    """``{"winner": "A"|"B"|"tie", "reason": "..."}``."""

    winner: Literal["A", "B", "tie"]
    reason: str = ""


def parse_pairwise(text: str) -> PairwiseVerdict:
    """Parse and validate a pairwise verdict."""
    try:
        data = parse_json_reply(text)
        if isinstance(data, dict) and isinstance(data.get("winner"), str):
            data["winner"] = {"a": "A", "b": "B"}.get(
                data["winner"].lower(), data["winner"].lower()
            )
        return PairwiseVerdict.model_validate(data)
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ValueError(str(exc).splitlines()[0]) from None


def pairwise_score(first: PairwiseVerdict, swapped: PairwiseVerdict) -> float:
    """Return 1 when ours wins in both orders, 0 when it loses in both, else 0.5.

    ``first`` saw ours as A; ``swapped`` saw ours as B (position swap cancels position bias).
    """
    ours = {"A": 1.0, "B": 0.0, "tie": 0.5}[first.winner]
    ours_swapped = {"A": 0.0, "B": 1.0, "tie": 0.5}[swapped.winner]
    if ours == ours_swapped:
        return ours
    return 0.5
