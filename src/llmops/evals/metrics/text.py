"""Golden-set metrics: compare the answer with the reference (or with ``value``).

``exact-match``, ``contains``, ``regex``, ``json-schema``, ``rouge-l``, ``bleu`` and
``semantic-similarity`` (cosine of the local embedding model). None calls a model.
"""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from typing import Any, ClassVar

from llmops.evals.metrics.base import BaseMetric, ItemContext, register_metric
from llmops.evals.records import MetricResult

__all__ = [
    "Bleu",
    "Contains",
    "ExactMatch",
    "JsonSchemaValid",
    "RegexMatch",
    "RougeL",
    "SemanticSimilarity",
]


def normalize(text: str) -> str:
    """Return ``text`` lower-cased, accents and punctuation folded, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


class _ReferenceMetric(BaseMetric):
    """Compares the answer with ``value`` when given, else the record's reference."""

    #: An empty reference is scored (the answer must be empty too) rather than skipped.
    scores_empty_reference: ClassVar[bool] = False

    def expected(self, ctx: ItemContext) -> str | None:
        if self.spec.value is not None:
            return str(self.spec.value)
        return ctx.record.reference

    async def evaluate(self, ctx: ItemContext) -> MetricResult:
        if (skip := _applies(self, ctx)) is not None:
            return skip
        expected = self.expected(ctx)
        if expected is None or (not expected and not self.scores_empty_reference):
            return MetricResult.not_applicable("no reference")
        return self.result(await self.compare(ctx, ctx.output.answer, expected))

    async def compare(
        self, ctx: ItemContext, answer: str, expected: str
    ) -> float:  # pragma: no cover - abstract
        """Return the score of ``answer`` against ``expected``."""
        raise NotImplementedError


def _applies(metric: BaseMetric, ctx: ItemContext) -> MetricResult | None:
    only = metric.option("only", "all")
    if only == "answerable" and not ctx.record.answerable:
        return MetricResult.not_applicable("unanswerable item")
    if only == "unanswerable" and ctx.record.answerable:
        return MetricResult.not_applicable("answerable item")
    return None


class ExactMatch(_ReferenceMetric):
    """1 when the normalised answer equals the normalised reference."""

    default_threshold = 1.0
    scores_empty_reference = True

    async def compare(self, ctx: ItemContext, answer: str, expected: str) -> float:
        return float(normalize(answer) == normalize(expected))


class Contains(_ReferenceMetric):
    """1 when the answer contains ``value`` (a string or a list: all of them), case-insensitive."""

    default_threshold = 1.0

    async def evaluate(self, ctx: ItemContext) -> MetricResult:
        if (skip := _applies(self, ctx)) is not None:
            return skip
        value = self.spec.value if self.spec.value is not None else ctx.record.reference
        if value is None:
            return MetricResult.not_applicable("no reference")
        needles = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        answer = normalize(ctx.output.answer)
        found = [n for n in needles if normalize(n) in answer]
        missing = [n for n in needles if n not in found]
        reason = f"missing: {', '.join(missing)}" if missing else ""
        return self.result(len(found) / len(needles), reason)


class RegexMatch(BaseMetric):
    """1 when the answer matches the regular expression ``value``."""

    default_threshold = 1.0

    def configure(self) -> None:
        if not isinstance(self.spec.value, str):
            raise self.bad_value("'value' must be a regular expression")
        try:
            self.pattern = re.compile(self.spec.value, re.IGNORECASE | re.DOTALL)
        except re.error as exc:
            raise self.bad_value(f"invalid regular expression: {exc}") from None

    async def evaluate(self, ctx: ItemContext) -> MetricResult:
        if (skip := _applies(self, ctx)) is not None:
            return skip
        return self.result(float(self.pattern.search(ctx.output.answer) is not None))


class JsonSchemaValid(BaseMetric):
    """1 when the answer is JSON valid against the JSON Schema ``value`` (or just JSON)."""

    default_threshold = 1.0

    def configure(self) -> None:
        if self.spec.value is not None and not isinstance(self.spec.value, dict):
            raise self.bad_value("'value' must be a JSON Schema mapping")

    async def evaluate(self, ctx: ItemContext) -> MetricResult:
        if (skip := _applies(self, ctx)) is not None:
            return skip
        text = ctx.output.answer.strip()
        fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.DOTALL)
        if fenced:
            text = fenced.group(1)
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            return self.result(0.0, f"not JSON: {exc.msg}")
        if self.spec.value:
            import jsonschema

            errors = sorted(
                jsonschema.Draft202012Validator(self.spec.value).iter_errors(data), key=str
            )
            if errors:
                return self.result(0.0, f"schema: {errors[0].message}")
        return self.result(1.0)


class RougeL(_ReferenceMetric):
    """ROUGE-L F1 between answer and reference (rouge-score, stemming on)."""

    default_threshold = 0.3

    async def compare(self, ctx: ItemContext, answer: str, expected: str) -> float:
        from rouge_score import rouge_scorer

        scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
        return float(scorer.score(expected, answer)["rougeL"].fmeasure)


class Bleu(_ReferenceMetric):
    """Sentence BLEU (sacrebleu, exponential smoothing) divided by 100."""

    default_threshold = 0.2

    async def compare(self, ctx: ItemContext, answer: str, expected: str) -> float:
        import sacrebleu

        return float(sacrebleu.sentence_bleu(answer, [expected]).score / 100.0)


class SemanticSimilarity(_ReferenceMetric):
    """Cosine similarity of answer and reference with the local embedding model."""

    default_threshold = 0.7

    async def compare(self, ctx: ItemContext, answer: str, expected: str) -> float:
        return await similarity(ctx, answer, expected)


async def similarity(ctx: ItemContext, a: str, b: str) -> float:
    """Return the cosine similarity of two texts (clipped at 0)."""
    embedder = ctx.services.embedder()
    vectors = await asyncio.to_thread(embedder.encode, [a or " ", b or " "])
    return max(0.0, float(vectors[0] @ vectors[1]))


register_metric("exact-match", ExactMatch)
register_metric("contains", Contains)
register_metric("regex", RegexMatch)
register_metric("json-schema", JsonSchemaValid)
register_metric("rouge-l", RougeL)
register_metric("bleu", Bleu)
register_metric("semantic-similarity", SemanticSimilarity)
