"""Online evaluation: score the sampled traces with the eval harness's own metrics.

Every sampled answer gets the offline ``groundedness`` metric (sentence support against its
retrieved contexts, local embedding model); when a judge is configured and the hourly judge
budget allows, the ``judge-rag`` metric's faithfulness and answer relevancy as well (one judge
call per trace). Scores are written back onto the trace. The queries of a uniform share of the
traffic (``sampler.embed_rate``) are embedded for the drift test.

Nothing is silent: a trace that cannot be scored keeps ``score_error`` (judge down, budget
spent), and ``ScoringStatus`` counts what was scored, skipped and failed for the report and
``/metrics``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.embeddings import Embedder
    from llmops.evals.judge import Judge
    from llmops.evals.metrics.base import EvalServices
    from llmops.traces.store import TraceStore

__all__ = ["BatchEmbedder", "MonitorServices", "Scorer", "ScoringStatus"]

_LOOKBACK_S = 7 * 86400
_BATCH = 64
NO_JUDGE = (
    "no judge configured: set judge.base_url and judge.model in llmops.yaml "
    "(or LLMOPS_JUDGE_BASE_URL / LLMOPS_JUDGE_MODEL)"
)


@dataclass
class ScoringStatus:
    """What one scoring pass did."""

    embedded: int = 0
    scored: int = 0
    judged: int = 0
    judge_errors: int = 0
    judge_skipped: int = 0
    errors: int = 0
    last_error: str | None = None
    judge_state: str = "off"  # off | ok | budget_spent | failing
    notes: list[str] = field(default_factory=list)


class BatchEmbedder:
    """The local embedder with a per-batch cache: ``preload`` encodes a whole batch's texts in
    one call, and the metrics' own ``encode`` calls are then answered from it. The model is
    loaded on the first text to encode, so a pass with nothing to embed loads nothing."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._inner: Embedder | None = None
        self._cache: dict[str, Any] = {}

    @property
    def inner(self) -> Embedder:
        """Return the embedding model (loaded on first use)."""
        if self._inner is None:
            from llmops.embeddings import get_embedder

            self._inner = get_embedder(self.model)
        return self._inner

    @property
    def model_id(self) -> str:
        """Return the model id."""
        return self.inner.model_id

    @property
    def dim(self) -> int:
        """Return the vector size."""
        return self.inner.dim

    @property
    def max_seq_length(self) -> int:
        """Return the model's input limit."""
        return self.inner.max_seq_length

    def preload(self, texts: list[str]) -> None:
        """Encode every text not cached yet, in one batch."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            for text, vec in zip(missing, self.inner.encode(missing, batch_size=64), strict=True):
                self._cache[text] = vec

    def encode(self, texts: Any, *, batch_size: int = 32, normalize: bool = True) -> Any:
        """Return one row per text (normalised), from the cache where possible."""
        import numpy as np

        if not normalize:
            return self.inner.encode(texts, batch_size=batch_size, normalize=False)
        self.preload(list(texts))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    def count_tokens(self, text: str) -> int:
        """Return the model's token count."""
        return self.inner.count_tokens(text)


class MonitorServices:
    """What the eval metrics need, for scoring production traces (``EvalServices``)."""

    def __init__(self, settings: Settings, judge: Judge | None) -> None:
        from llmops.evals.metrics.base import Rubrics

        self.settings = settings
        self._judge = judge
        self.rubric = Rubrics(settings)
        self._embedder: BatchEmbedder | None = None

    def embedder(self) -> Embedder:
        """Return the local embedding model (behind a per-batch cache)."""
        if self._embedder is None:
            self._embedder = BatchEmbedder(self.settings.embedding.model)
        return self._embedder  # type: ignore[return-value]

    def lend(self) -> EvalServices:
        """Return what a metric is lent (``EvalServices``): one verdict per trace at temperature
        0 (the defaults); no other targets, no probes: traces are scored as they were served."""
        from llmops.evals.metrics.base import EvalServices

        return EvalServices(
            embedder=self.embedder,
            judge=self._judge,
            judge_configured=bool(self.settings.judge.base_url and self.settings.judge.model),
            judge_missing=NO_JUDGE,
            rubric=self.rubric,
        )


class Scorer:
    """Embeds sampled queries and scores sampled answers, in bounded batches."""

    def __init__(
        self, store: TraceStore, settings: Settings, *, clock: Callable[[], float] = time.time
    ) -> None:
        from llmops.traces.sampling import Sampler

        self.store = store
        self.settings = settings
        self.clock = clock
        self.sampler = Sampler(settings.monitor.sampler, clock=clock)
        self._embed_cursor = 0

    # -- query embeddings for the drift test ----------------------------------------------------

    def embed_pending(self, limit: int = 2000) -> int:
        """Embed up to ``limit`` not-yet-embedded queries of the uniform drift sample."""
        import numpy as np
        import sqlalchemy as sa

        t, v = self.store.table, self.store.tables.vectors
        if not self._embed_cursor:  # ids grow with inserts: everything below was considered
            with self.store.engine.connect() as conn:
                newest = conn.execute(sa.select(sa.func.max(v.c.trace_id))).scalar()
            self._embed_cursor = int(newest or 0)
        top_rate = max(
            [self.settings.monitor.sampler.embed_rate]
            + [r.embed_rate for r in self.settings.monitor.sampler.routes.values() if r.embed_rate]
        )
        stmt = (
            sa.select(t.c.id, t.c.route, t.c.ts, t.c.sample_u, t.c.question)
            .outerjoin(v, v.c.trace_id == t.c.id)
            .where(
                t.c.ts >= self.clock() - _LOOKBACK_S,
                t.c.id > self._embed_cursor,
                t.c.question.is_not(None),
                t.c.sample_u < top_rate,
                t.c.shadow_of.is_(None),
                v.c.trace_id.is_(None),
            )
            .order_by(t.c.id)
            .limit(limit)
        )
        with self.store.engine.connect() as conn:
            rows = conn.execute(stmt).fetchall()
        if rows:
            self._embed_cursor = int(rows[-1][0])
        rows = [r for r in rows if r[3] < self.sampler.embed_rate(r[1] or "")]
        if not rows:
            return 0
        from llmops.embeddings import get_embedder

        embedder = get_embedder(self.settings.embedding.model)
        vectors = embedder.encode([str(r[4]) for r in rows], batch_size=64)
        model = self.settings.embedding.model
        values = [
            {
                "trace_id": r[0], "route": r[1] or "", "ts": r[2], "sample_u": r[3],
                "model": model, "question": str(r[4]),
                "vec": np.asarray(vec, dtype=np.float32).tobytes(),
            }
            for r, vec in zip(rows, vectors, strict=True)
        ]  # fmt: skip
        with self.store.engine.begin() as conn:
            conn.execute(v.insert(), values)
        return len(values)

    # -- answer scores ------------------------------------------------------------------------

    def _judge_budget_left(self) -> int:
        import sqlalchemy as sa

        t = self.store.table
        hour = int(self.clock() // 3600) * 3600
        stmt = sa.select(sa.func.count()).where(
            t.c.sampled == sa.true(), t.c.scored_at >= hour, t.c.judge.is_not(None)
        )
        with self.store.engine.connect() as conn:
            used = int(conn.execute(stmt).scalar_one())
        return max(0, self.settings.monitor.sampler.judge_budget_per_hour - used)

    def score_pending(self, limit: int = 500) -> ScoringStatus:
        """Score up to ``limit`` sampled, unscored traces; return what happened."""
        import sqlalchemy as sa

        status = ScoringStatus()
        status.embedded = self.embed_pending()
        t = self.store.table
        cols = [t.c.id, t.c.status, t.c.question, t.c.answer, t.c.contexts, t.c.error_code]
        stmt = (
            sa.select(*cols)
            .where(
                t.c.sampled == sa.true(),
                t.c.scored_at.is_(None),
                t.c.ts >= self.clock() - _LOOKBACK_S,
            )
            .order_by(t.c.id)
            .limit(limit)
        )
        with self.store.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
        if not rows:
            return status
        for start in range(0, len(rows), _BATCH):
            batch = rows[start : start + _BATCH]
            scores = asyncio.run(self._score(batch, status))
            self.store.save_scores(scores)
        return status

    def _make_judge(self) -> Judge | None:
        settings = self.settings
        if not (settings.monitor.hallucination.judge and settings.judge.base_url):
            return None
        if not settings.judge.model:
            return None
        from llmops.evals.cache import ModelCache
        from llmops.evals.calls import ModelCaller
        from llmops.evals.judge import Judge

        cache = ModelCache(settings.state_path / "cache" / "models", enabled=True)
        caller = ModelCaller(
            cache, concurrency=4, retries=settings.judge.max_retries, timeout=settings.judge.timeout
        )
        return Judge(settings.judge, caller)

    async def _score(
        self, rows: list[dict[str, Any]], status: ScoringStatus
    ) -> list[tuple[int, dict[str, Any]]]:
        import json

        from llmops.evals.golden import GoldenRecord
        from llmops.evals.metrics.base import ItemContext, create_metric
        from llmops.evals.records import TargetOutput
        from llmops.evals.suite import MetricSpec

        judge = self._make_judge()
        budget = self._judge_budget_left() if judge is not None else 0
        status.judge_state = "ok" if judge is not None else "off"
        services = MonitorServices(self.settings, judge)
        _preload(services, rows)
        lent = services.lend()
        support = self.settings.monitor.hallucination.support_threshold
        grounded = create_metric(MetricSpec(type="groundedness", options={"support": support}))
        faithful = create_metric(MetricSpec(type="judge-rag", options={"aspect": "faithfulness"}))
        relevant = create_metric(
            MetricSpec(type="judge-rag", options={"aspect": "answer_relevancy"})
        )
        out: list[tuple[int, dict[str, Any]]] = []
        try:
            for row in rows:
                now = self.clock()
                values: dict[str, Any] = {"scored_at": now}
                if row["status"] != 200 or row["answer"] is None:
                    out.append((row["id"], values))  # a failed request: nothing to score
                    continue
                contexts = row["contexts"]
                if isinstance(contexts, str):
                    contexts = json.loads(contexts)
                record = GoldenRecord(id=f"trace-{row['id']}", input=row["question"] or "")
                output = TargetOutput(answer=row["answer"], contexts=list(contexts or []))
                ctx = ItemContext(record=record, output=output, services=lent)
                result = await grounded.evaluate(ctx)
                if result.status in ("pass", "fail"):
                    values["groundedness"] = result.score
                    values["unsupported"] = result.status == "fail"
                elif result.status == "error":
                    values["score_error"] = result.reason
                    status.errors += 1
                    status.last_error = result.reason
                if judge is not None and "groundedness" in values:
                    if status.judge_state == "failing":
                        values["score_error"] = f"judge unavailable: {status.last_error}"[:500]
                        status.judge_skipped += 1
                    elif budget <= 0:
                        values["score_error"] = "judge budget for this hour spent"
                        status.judge_skipped += 1
                        status.judge_state = "budget_spent"
                    else:
                        budget -= 1
                        await self._judge_one(ctx, faithful, relevant, values, status)
                        values["judge"] = judge.model
                status.scored += 1
                out.append((row["id"], values))
        finally:
            if judge is not None:
                await judge.aclose()
        return out

    async def _judge_one(
        self,
        ctx: Any,
        faithful: Any,
        relevant: Any,
        values: dict[str, Any],
        status: ScoringStatus,
    ) -> None:
        faith = await faithful.evaluate(ctx)
        if faith.status == "error":  # the same call would fail again for the other aspect
            values["score_error"] = f"judge: {faith.reason}"[:500]
            status.judge_errors += 1
            status.last_error = faith.reason
            status.judge_state = "failing"
            return
        relevance = await relevant.evaluate(ctx)  # the same reply, from the call cache
        if faith.status in ("pass", "fail"):
            values["judge_faithfulness"] = faith.score
            status.judged += 1
        if relevance.status in ("pass", "fail"):
            values["judge_relevance"] = relevance.score


def _preload(services: MonitorServices, rows: list[dict[str, Any]]) -> None:
    """Encode the sentences the groundedness metric will ask for, for the whole batch at once."""
    import json

    from llmops.evals.metrics.grounded import claims_and_pieces

    texts: list[str] = []
    for row in rows:
        contexts = row["contexts"]
        if isinstance(contexts, str):
            contexts = json.loads(contexts)
        if row["answer"] and contexts:
            claims, pieces = claims_and_pieces(
                row["answer"], [str(c.get("text") or "") for c in contexts if c.get("text")]
            )
            texts += claims + pieces
    embedder = services.embedder()
    assert isinstance(embedder, BatchEmbedder)
    embedder.preload(texts)
