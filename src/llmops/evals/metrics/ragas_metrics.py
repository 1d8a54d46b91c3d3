"""ragas metrics, computed by the ragas library itself (``ragas.metrics.collections``).

LLM metrics use the configured judge (any OpenAI-compatible endpoint) through
``ragas.llms.llm_factory(model, client=AsyncOpenAI(base_url=...))``:
``ragas-faithfulness``, ``ragas-answer-relevancy`` (also uses the local embedding model),
``ragas-context-precision`` and ``ragas-context-recall`` (both need the record's reference).
Non-LLM metrics run offline: ``ragas-rouge``, ``ragas-bleu``, ``ragas-string-similarity``.

A ragas score is cached like a model call (key: metric, judge, inputs); the HTTP calls ragas
makes are counted as judge calls. ragas makes several calls per item (faithfulness 2+,
answer relevancy 3, context precision one per context); ``judge-rag`` asks one.

ragas builds and parses its own requests (instructor over the ``AsyncOpenAI`` client it is
given); the bytes go through llmops' transport: the client's ``http_client`` has an
``HttpxTransport`` that retries each request by the run's ``RetryPolicy`` (the SDK's own
retries are off), so ragas, the judge, eval targets and the gateway share one transport and one
retry policy. (A ragas LLM adapter on our provider would have to re-implement instructor's
JSON-mode parsing and repair against ragas-internal base classes; swapping the transport keeps
ragas 0.4.3 exactly as its authors test it.)
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
        import httpx
        import ragas.metrics.collections as collections
        from openai import AsyncOpenAI
        from ragas.llms import llm_factory

        from llmops.transport.httpx_adapter import HttpxTransport

        judge = ctx.services.judge
        if judge is None:  # pragma: no cover - checked by the caller
            raise LLMOpsError("no judge configured")

        def count() -> None:
            counter[0] += 1

        transport = HttpxTransport(
            read_timeout=judge.endpoint.timeout,
            retry=judge.caller.retry,
            on_retry=judge.caller.count_retry,
            on_request=count,
        )
        client = AsyncOpenAI(
            base_url=judge.base_url,
            api_key=judge.endpoint.api_key(),
            max_retries=0,
            http_client=httpx.AsyncClient(transport=transport, timeout=None),
        )
        llm = llm_factory(judge.model, client=client)
        cls = getattr(collections, self.class_name)
        if self.class_name == "AnswerRelevancy":
            metric = cls(llm=llm, embeddings=LocalRagasEmbedding.create(ctx.services.embedder()))
        else:
            metric = cls(llm=llm)
        return metric, client

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
        }

        async def compute() -> dict[str, Any]:
            counter = [0]
            metric, client = self._scorer(ctx, counter)
            try:
                result = await metric.ascore(**args)
            except LLMOpsError:
                raise
            except Exception as exc:  # noqa: BLE001 - ragas raises many kinds; the item errors
                raise LLMOpsError(f"ragas {self.class_name} failed: {exc}") from None
            finally:
                await client.close()
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
