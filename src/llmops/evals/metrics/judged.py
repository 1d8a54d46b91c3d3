"""LLM-as-judge metrics with rubric prompts from the prompt registry.

- ``judge``: ``value`` is a rubric ref (``judge-faithfulness@production``) rendered with
  ``question``, ``answer``, ``contexts`` (and ``reference`` when the rubric declares it); the
  judge returns ``{"score", "verdict", "reason"}``.
  ``judge.samples`` verdicts per item are combined by ``judge.aggregate`` (mean of scores, or the
  majority verdict). ``options.label`` names the human label this metric is calibrated against.
- ``judge-rag``: one structured call per item returns faithfulness, answer relevancy, context
  precision and context recall together (``options.aspect`` picks one; metrics sharing the call
  cost one model call). ``value`` defaults to ``judge-rag@production``, the shipped rubric whose
  detailed reply (per-claim and per-context decisions) is scored with ragas' formulas in
  ``llmops.evals.judge.score_detailed``. A record without a reference answer skips
  context_precision and context_recall (both compare the contexts with it).

With no judge configured these report ``skipped: no judge configured`` — never passed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from llmops.errors import LLMOpsError
from llmops.evals.golden import GoldenRecord
from llmops.evals.metrics.base import BaseMetric, EvalServices, ItemContext, register_metric
from llmops.evals.records import MetricResult
from llmops.evals.verdict_schema import (
    rag_verdict_schema,
    response_format,
    verdict_schema,
    wants_schema,
)
from llmops.evals.verdicts import (
    ASPECTS,
    RagScoring,
    Verdict,
    pairwise_score,
    parse_pairwise,
    parse_rag_verdict,
    parse_verdict,
)

if TYPE_CHECKING:
    from llmops.evals.judge import Judge

__all__ = ["JudgeMetric", "PairwiseMetric", "RagJudgeMetric"]

_T = TypeVar("_T")


NO_REFERENCE = (
    "no reference answer in the golden record: context_precision and context_recall compare "
    'the contexts with it (add "reference" to the record)'
)


def _contexts(ctx: ItemContext) -> list[dict[str, Any]]:
    # a context without an id gets its rank, so a per-context verdict can name it
    return [
        {
            "id": str(c.get("id") or f"c{rank}"),
            "text": str(c.get("text", "")),
            "source": c.get("source"),
        }
        for rank, c in enumerate(ctx.output.contexts, start=1)
    ]


class _Judged(BaseMetric):
    needs_judge: bool = True
    default_threshold = 0.5
    default_rubric: ClassVar[str | None] = None

    def configure(self) -> None:
        ref = self.spec.value if self.spec.value is not None else self.default_rubric
        if not isinstance(ref, str) or not ref:
            raise self.bad_value(
                "'value' must be a rubric prompt ref, e.g. judge-faithfulness@production"
            )
        self.rubric_ref = ref
        self.samples = int(self.option("samples", 1))

    def setup(self, services: EvalServices) -> None:
        """Resolve the rubric now so a missing prompt fails before any call."""
        services.rubric(self.rubric_ref)
        self.samples = max(self.samples, services.judge_samples)

    def judge_calls(self, record: GoldenRecord) -> int:
        return self.samples

    def _ready(self, ctx: ItemContext) -> tuple[Judge | None, MetricResult | None]:
        judge = ctx.services.judge
        if judge is None:
            return None, MetricResult.skipped(ctx.services.judge_missing)
        if ctx.output.error:
            return None, MetricResult.errored(f"target failed: {ctx.output.error}")
        return judge, None

    def _messages(self, ctx: ItemContext) -> tuple[list[dict[str, Any]], Any]:
        # Metrics sharing a rubric (the four judge-rag aspects) render it once per item.
        key = f"rubric:{self.rubric_ref}"
        if key not in ctx.memo:
            rubric = ctx.services.rubric(self.rubric_ref)
            variables: dict[str, Any] = {
                "question": ctx.record.question,
                "answer": ctx.output.answer,
                "contexts": _contexts(ctx),
            }
            if "reference" in rubric.file.variables:  # older rubrics do not declare it
                variables["reference"] = ctx.record.reference or None
            rendered = rubric.render(**variables)
            ctx.memo[key] = ([dict(m) for m in rendered.messages], rendered)
        messages, rendered = ctx.memo[key]
        return list(messages), rendered

    def _temperature(self, ctx: ItemContext) -> float:
        return ctx.services.judge_temperature(self.samples)

    async def _replies(
        self, judge: Judge, ctx: ItemContext, parse: Callable[[str], _T], params: dict[str, Any]
    ) -> list[_T]:
        """Ask the judge ``samples`` times with the item's rendered rubric; return the replies."""
        messages, rendered = self._messages(ctx)
        return [
            await judge.ask(
                messages,
                parse,
                rubric=rendered.lineage,
                sample=sample,
                temperature=self._temperature(ctx),
                params=params,
            )
            for sample in range(self.samples)
        ]

    def _label(self, ctx: ItemContext) -> dict[str, Any]:
        key = self.option("label", None)
        if key and key in ctx.record.labels:
            return {"label": ctx.record.labels[key]}
        return {}


class JudgeMetric(_Judged):
    """One rubric, n verdicts per item."""

    def configure(self) -> None:
        super().configure()

    async def evaluate(self, ctx: ItemContext) -> MetricResult:
        judge, early = self._ready(ctx)
        if early is not None or judge is None:
            return early or MetricResult.skipped(ctx.services.judge_missing)
        _, rendered = self._messages(ctx)
        params = dict(rendered.params or {})
        if wants_schema(params):
            params["response_format"] = response_format("verdict", verdict_schema())
        try:
            verdicts = await self._replies(judge, ctx, parse_verdict, params)
        except LLMOpsError as exc:
            return MetricResult.errored(str(exc))
        return _combine(self, ctx, verdicts, rendered.lineage.ref)


def _combine(
    metric: _Judged, ctx: ItemContext, verdicts: list[Verdict], rubric: str
) -> MetricResult:
    if ctx.services.judge_aggregate == "majority" and len(verdicts) > 1:
        passes = sum(v.verdict == "pass" for v in verdicts)
        score = 1.0 if passes * 2 > len(verdicts) else 0.0
    else:
        score = sum(v.score for v in verdicts) / len(verdicts)
    return metric.result(
        score,
        verdicts[0].reason,
        rubric=rubric,
        verdicts=[v.verdict for v in verdicts],
        **metric._label(ctx),
    )


class RagJudgeMetric(_Judged):
    """One aspect of the combined four-aspect RAG verdict."""

    default_rubric = "judge-rag@production"

    def configure(self) -> None:
        super().configure()
        aspect = self.option("aspect", self.spec.metric or "faithfulness")
        if aspect not in ASPECTS:
            raise self.bad_value(f"options.aspect must be one of {', '.join(ASPECTS)}")
        self.aspect = aspect

    async def evaluate(self, ctx: ItemContext) -> MetricResult:
        judge, early = self._ready(ctx)
        if early is not None or judge is None:
            return early or MetricResult.skipped(ctx.services.judge_missing)
        has_reference = bool(ctx.record.reference)
        if self.aspect in ("context_precision", "context_recall") and not has_reference:
            return MetricResult.skipped(NO_REFERENCE)
        _, rendered = self._messages(ctx)
        context_ids = [c["id"] for c in _contexts(ctx)]
        # every aspect of the item parses the same reply; only the pass threshold differs
        scoring = RagScoring(self.threshold, context_ids, has_reference)
        parse = functools.partial(parse_rag_verdict, scoring=scoring)
        params: dict[str, Any] = {
            "response_format": {"type": "json_object"},
            **dict(rendered.params or {}),
        }
        if wants_schema(params):
            schema = rag_verdict_schema(context_ids, has_reference=has_reference)
            params["response_format"] = response_format("judge_rag", schema)
        try:
            replies = await self._replies(judge, ctx, parse, params)
        except LLMOpsError as exc:
            return MetricResult.errored(str(exc))
        verdicts: list[Verdict] = [v for r in replies if (v := getattr(r, self.aspect)) is not None]
        if not verdicts:
            return MetricResult.not_applicable(replies[-1].missing.get(self.aspect, "no score"))
        return _combine(self, ctx, verdicts, rendered.lineage.ref)


class PairwiseMetric(_Judged):
    """This target's answer against another target's, judged twice with positions swapped.

    ``value`` is a rubric rendered with ``question``, ``answer_a``, ``answer_b`` that replies
    ``{"winner": "A"|"B"|"tie", "reason"}``; ``options.against`` is the other target (same keys
    as ``target:``). Score: 1 when ours wins in both orders, 0 when it loses in both, else 0.5.
    """

    def configure(self) -> None:
        super().configure()
        from pydantic import ValidationError

        from llmops.evals.suite import TargetSpec

        against = self.option("against", None)
        if not isinstance(against, dict):
            raise self.bad_value("options.against must be a target, e.g. {prompt: rag-answer@2}")
        try:
            self.against = TargetSpec.model_validate(against)
        except ValidationError as exc:
            raise self.bad_value(f"options.against: {exc.errors()[0]['msg']}") from None

    def setup(self, services: EvalServices) -> None:
        """Resolve the rubric and create the other target before any call."""
        super().setup(services)
        services.other_target(self.against)

    def judge_calls(self, record: GoldenRecord) -> int:
        return 2

    def target_calls(self, record: GoldenRecord) -> int:
        return 1

    async def evaluate(self, ctx: ItemContext) -> MetricResult:
        judge, early = self._ready(ctx)
        if early is not None or judge is None:
            return early or MetricResult.skipped(ctx.services.judge_missing)
        other = await ctx.services.run_other(self.against, ctx.record, repeat=ctx.repeat)
        if other.error:
            return MetricResult.errored(f"other target failed: {other.error}")
        rubric = ctx.services.rubric(self.rubric_ref)
        verdicts = []
        try:
            for a, b in ((ctx.output.answer, other.answer), (other.answer, ctx.output.answer)):
                rendered = rubric.render(question=ctx.record.question, answer_a=a, answer_b=b)
                verdicts.append(
                    await judge.ask(
                        [dict(m) for m in rendered.messages],
                        parse_pairwise,
                        rubric=rendered.lineage,
                        temperature=self._temperature(ctx),
                    )
                )
        except LLMOpsError as exc:
            return MetricResult.errored(str(exc))
        first, swapped = verdicts
        score = pairwise_score(first, swapped)
        consistent = (
            pairwise_score(first, swapped) != 0.5 or first.winner == swapped.winner == "tie"
        )
        return self.result(
            score,
            first.reason,
            winners=[first.winner, swapped.winner],
            consistent=consistent,
            other_answer=other.answer[:500],
        )


register_metric("judge", JudgeMetric)
register_metric("pairwise", PairwiseMetric)
register_metric("judge-rag", RagJudgeMetric)
