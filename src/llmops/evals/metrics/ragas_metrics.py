"""ragas metrics, computed by the ragas library itself (``ragas.metrics.collections``).

LLM metrics use the configured judge (any OpenAI-compatible endpoint, see below):
``ragas-faithfulness``, ``ragas-answer-relevancy`` (also uses the local embedding model),
``ragas-context-precision`` and ``ragas-context-recall`` (both need the record's reference).
Non-LLM metrics run offline: ``ragas-rouge``, ``ragas-bleu``, ``ragas-string-similarity``.

A ragas score is cached like a model call (key: metric, judge, inputs); the HTTP calls ragas
makes are counted as judge calls. ragas makes several calls per item (faithfulness 2+,
answer relevancy 3, context precision one per context); ``judge-rag`` asks one.

ragas builds the prompts and parses the replies; the calls go through the judge's
``ChatEndpoint`` (llmops' provider, transport and retry policy) by ``evals.metrics.ragas_llm``,
with ``response_format: json_schema`` from the pydantic model ragas expects (a server with
guided decoding, like vLLM, can only answer JSON that parses), one generation per call and
``max_tokens`` capped (metric option ``max_tokens``, default 1024).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar

from llmops.errors import LLMOpsError
from llmops.evals.golden import GoldenRecord
from llmops.evals.metrics.base import BaseMetric, ItemContext, register_metric
from llmops.evals.records import MetricResult

__all__ = ["LocalRagasEmbedding", "RagasMetric", "RagasOfflineMetric"]


def _contexts(ctx: ItemContext) -> list[str]:
    return [str(c.get("text", "")) for c in ctx.output.contexts if c.get("text")]


class LocalRagasEmbedding:
    """The local embedding model behind ragas' embedding interface (built lazily)."""

    @staticmethod
    def create(embedder: Any) -> Any:
        """Return a ``ragas.embeddings.base.BaseRagasEmbedding`` over ``embedder``."""
        from ragas.embeddings.base import BaseRagasEmbedding

        class _Local(BaseRagasEmbedding):
            def embed_text(self, text: str, **kwargs: Any) -> list[float]:
                return [float(x) for x in embedder.encode([text])[0]]

            async def aembed_text(self, text: str, **kwargs: Any) -> list[float]:
                return await asyncio.to_thread(self.embed_text, text)

        return _Local()


class _JudgeSeam:
    """The judge's endpoint for ragas: each call retried by the run's policy (retries counted
    in the run's stats), each request counted as a judge call."""

    def __init__(self, judge: Any, counter: list[int]) -> None:
        from llmops.evals.openai_http import ChatEndpoint
        from llmops.transport import RetryPolicy

        self.caller = judge.caller
        self.counter = counter
        self.endpoint = ChatEndpoint(
            judge.base_url,
            api_key_env=judge.endpoint.api_key_env,
            timeout=judge.endpoint.timeout,
            name="judge",
            retry=RetryPolicy(attempts=1),  # the run's policy below retries; nesting would multiply
        )

    async def chat(
        self, model: str, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> dict[str, Any]:
        async def attempt() -> dict[str, Any]:
            self.counter[0] += 1
            return dict(await self.endpoint.chat(model, messages, params))

        result: dict[str, Any] = await self.caller.retry.run(
            attempt, on_retry=self.caller.count_retry
        )
        return result


# metric type -> (ragas class name, needs reference, argument builder)
_LLM_METRICS: dict[str, tuple[str, bool, Callable[[ItemContext], dict[str, Any]]]] = {
    "ragas-faithfulness": (
        "Faithfulness",
        False,
        lambda c: {
            "user_input": c.record.question,
            "response": c.output.answer,
            "retrieved_contexts": _contexts(c),
        },
    ),
    "ragas-answer-relevancy": (
        "AnswerRelevancy",
        False,
        lambda c: {"user_input": c.record.question, "response": c.output.answer},
    ),
    "ragas-context-precision": (
        "ContextPrecision",
        True,
        lambda c: {
            "user_input": c.record.question,
            "reference": c.record.reference or "",
            "retrieved_contexts": _contexts(c),
        },
    ),
    "ragas-context-recall": (
        "ContextRecall",
        True,
        lambda c: {
            "user_input": c.record.question,
            "retrieved_contexts": _contexts(c),
            "reference": c.record.reference or "",
        },
    ),
}


class RagasMetric(BaseMetric):
    """One ragas LLM metric, scored with the configured judge."""

    needs_judge = True
    default_threshold = 0.5
    calls_per_item: ClassVar[dict[str, int]] = {
        "ragas-faithfulness": 2,
        "ragas-answer-relevancy": 3,
        "ragas-context-precision": 5,
        "ragas-context-recall": 1,
    }

    def configure(self) -> None:
        self.class_name, self.needs_reference, self.args = _LLM_METRICS[self.spec.type]
        self._clients: dict[int, tuple[Any, Any]] = {}

    def judge_calls(self, record: GoldenRecord) -> int:
        return self.calls_per_item[self.spec.type]

    def setup(self, services: Any) -> None:
        """Import ragas now: its first import takes seconds and must not eat a call's timeout."""
        if services.judge_configured:
            import ragas.llms  # noqa: F401
            import ragas.metrics.collections  # noqa: F401

    def _scorer(self, ctx: ItemContext, counter: list[int]) -> Any:
        import ragas.metrics.collections as collections

        from llmops.evals.metrics.ragas_llm import structured_ragas_llm

        judge = ctx.services.judge
        if judge is None:  # pragma: no cover - checked by the caller
            raise LLMOpsError("no judge configured")
        seam = _JudgeSeam(judge, counter)
        llm = structured_ragas_llm(
            seam, judge.model, max_tokens=int(self.option("max_tokens", 1024))
        )
        cls = getattr(collections, self.class_name)
        if self.class_name == "AnswerRelevancy":
            metric = cls(llm=llm, embeddings=LocalRagasEmbedding.create(ctx.services.embedder()))
        else:
            metric = cls(llm=llm)
        return metric, seam.endpoint

    async def evaluate(self, ctx: ItemContext) -> MetricResult:
        judge = ctx.services.judge
        if judge is None:
            return MetricResult.skipped(ctx.services.judge_missing)
        if self.needs_reference and not ctx.record.reference:
            return MetricResult.not_applicable("no reference")
        if not ctx.output.answer.strip():
            return MetricResult.errored("empty answer")
        args = self.args(ctx)
        material = {
            "ragas": self.spec.type,
            "judge": judge.base_url,
            "model": judge.model,
            "args": args,
            "llm": "json_schema",  # how ragas' calls are made: part of what the score depends on
        }

        async def compute() -> dict[str, Any]:
            counter = [0]
            metric, endpoint = self._scorer(ctx, counter)
            try:
                result = await metric.ascore(**args)
            except LLMOpsError:
                raise
            except Exception as exc:  # noqa: BLE001 - ragas raises many kinds; the item errors
                raise LLMOpsError(f"ragas {self.class_name} failed: {exc}") from None
            finally:
                await endpoint.aclose()
                judge.caller.stats.judge_calls += max(0, counter[0] - 1)
            value = float(result.value) if result.value is not None else None
            return {"score": value, "http_calls": counter[0]}

        try:
            outcome = await judge.caller.call("judge", material, compute, retry=False)
        except LLMOpsError as exc:
            return MetricResult.errored(str(exc))
        score = outcome.value.get("score")
        if score is None:
            return MetricResult.errored("ragas returned no score")
        return self.result(float(score), calls=outcome.value.get("http_calls"))


class RagasOfflineMetric(BaseMetric):
    """A ragas non-LLM metric against the reference (offline)."""

    default_threshold = 0.3
    CLASSES: ClassVar[dict[str, str]] = {
        "ragas-rouge": "RougeScore",
        "ragas-bleu": "BleuScore",
        "ragas-string-similarity": "NonLLMStringSimilarity",
    }

    async def evaluate(self, ctx: ItemContext) -> MetricResult:
        if not ctx.record.reference:
            return MetricResult.not_applicable("no reference")
        if self.option("only", "all") == "answerable" and not ctx.record.answerable:
            return MetricResult.not_applicable("unanswerable item")
        import ragas.metrics.collections as collections

        metric = getattr(collections, self.CLASSES[self.spec.type])()
        result = await metric.ascore(reference=ctx.record.reference, response=ctx.output.answer)
        return self.result(float(result.value))


for _kind in _LLM_METRICS:
    register_metric(_kind, RagasMetric)
for _kind in RagasOfflineMetric.CLASSES:
    register_metric(_kind, RagasOfflineMetric)
