"""The eval runner: plan, pre-flight, run every item with bounded concurrency, summarise, gate.

1. Load the suite's golden set, target, metrics and judge; resolve rubric prompts (missing
   things fail here, with the suite's file and line, before any call).
2. Plan: prepare every target call (retrieval + rendering) and count what is not cached yet —
   model calls and estimated tokens and cost. Above the suite's budget the run refuses to start
   unless ``yes``.
3. Run: items × repeats on one event loop; model calls go through one ``ModelCaller`` (cache,
   single-flight, retries, timeout). Each finished call is cached at once, so Ctrl-C keeps
   everything paid for and the re-run resumes from the cache.
4. Summarise (means, pass rates, flaky items, judge calibration) and gate against the baseline.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from llmops.errors import LLMOpsError, NotFoundError, UsageError
from llmops.evals.baseline import load_baseline
from llmops.evals.cache import ModelCache, cache_key
from llmops.evals.calibration import calibrate
from llmops.evals.calls import ModelCaller
from llmops.evals.gate import apply_gate, summarize
from llmops.evals.golden import GoldenRecord, GoldenSet, load_golden_sets
from llmops.evals.metrics.base import (
    EvalServices,
    ItemContext,
    JudgedMetric,
    Metric,
    Rubrics,
    create_metric,
)
from llmops.evals.preflight import Preflight, StaleIndex, budget_overruns, stale_indexes
from llmops.evals.progress import RunProgress
from llmops.evals.records import CallStats, ItemRow, MetricResult, RunResult, TargetOutput
from llmops.evals.slices import check_dimensions
from llmops.evals.suite import Suite
from llmops.evals.targets import (
    AS_WRITTEN,
    CheckedTarget,
    PreparedCall,
    Target,
    Variant,
    create_target,
)
from llmops.lineage import JudgeLineage, git_commit, llmops_version

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.embeddings import Embedder
    from llmops.evals.judge import Judge

__all__ = ["EvalRunner", "Preflight", "RunOptions", "StaleIndex", "load_baseline", "run_suite"]

NO_JUDGE = (
    "skipped: no judge configured — set judge.base_url and judge.model in llmops.yaml "
    "(or LLMOPS_JUDGE_BASE_URL and LLMOPS_JUDGE_MODEL)"
)


@dataclass
class RunOptions:
    """How to run a suite (the CLI flags)."""

    use_cache: bool = True
    refresh: bool = False
    yes: bool = False
    repeats: int | None = None
    limit: int | None = None
    concurrency: int | None = None
    progress: bool = False
    on_preflight: Callable[[Preflight], None] | None = None


@dataclass
class _Planned:
    record: GoldenRecord
    repeat: int
    call: PreparedCall
    done_key: str


class EvalRunner:
    """Runs one suite; lends its metrics an ``EvalServices`` (``self.services``)."""

    def __init__(self, suite: Suite, settings: Settings, options: RunOptions | None = None) -> None:
        self.suite = suite
        self.settings = settings
        self.options = options or RunOptions()
        self.repeats = self.options.repeats or suite.repeats
        self.cache = ModelCache(
            settings.state_path / "cache" / "models",
            enabled=self.options.use_cache,
            refresh=self.options.refresh,
        )
        self.stats = CallStats()
        self._judge: Judge | None = None
        self.rubric = Rubrics(settings)
        self._caller: ModelCaller | None = None
        self._embedder: Embedder | None = None
        self.partial_result: RunResult | None = None
        self._others: dict[str, Target] = {}
        self._prepare_lock = threading.Lock()
        self.golden: GoldenSet = self._load_golden()
        self.metrics: list[Metric] = self._load_metrics()
        self.target: Target = self._load_target()
        self.services = EvalServices(
            embedder=self.embedder,
            judge=None,  # the judge lives on the run's event loop: see _run_all
            judge_configured=self.judge_configured,
            judge_missing=NO_JUDGE,
            judge_samples=suite.judge.samples,
            judge_aggregate=suite.judge.aggregate,
            judge_temperature=self.judge_temperature,
            rubric=self.rubric,
            other_target=self.other_target,
            run_other=self.run_other,
            run_variant=self.run_variant,
        )
        for index, metric in enumerate(self.metrics):
            try:
                metric.setup(self.services)
            except LLMOpsError as exc:
                raise self._located(exc, f"metrics.{index}") from None

    # -- loading ------------------------------------------------------------------------------

    def _located(self, exc: LLMOpsError, key: str) -> LLMOpsError:
        if exc.file is None and self.suite.path is not None:
            exc.file = str(self.suite.path)
            exc.line = self.suite.line_of(key)
            exc.key = exc.key or key
        return exc

    def _load_golden(self) -> GoldenSet:
        try:
            golden = load_golden_sets(self.suite.dataset_files)
        except NotFoundError as exc:
            # Point at the suite line that names the missing file.
            exc.file, exc.line = None, None
            raise self._located(exc, "dataset") from None
        check_dimensions(self.suite, golden)
        return golden.select(self.suite.tags or None, self.options.limit or self.suite.limit)

    def _load_metrics(self) -> list[Metric]:
        metrics = []
        for index, spec in enumerate(self.suite.metrics):
            try:
                metrics.append(create_metric(spec))
            except LLMOpsError as exc:
                raise self._located(exc, f"metrics.{index}") from None
        return metrics

    def _load_target(self) -> Target:
        try:
            target = create_target(self.suite.target, self.settings)
            if isinstance(target, CheckedTarget):
                target.check()  # a missing route or a dead endpoint fails before any model call
            return target
        except LLMOpsError as exc:
            raise self._located(exc, "target") from None

    def stale_indexes(self) -> list[StaleIndex]:
        """Return the indexes the target retrieves from whose pipeline file changed since build."""
        return stale_indexes(self.target)

    # -- what self.services lends metrics -------------------------------------------------------

    def embedder(self) -> Embedder:
        """Return the local embedding model."""
        if self._embedder is None:
            from llmops.embeddings import get_embedder

            self._embedder = get_embedder(self.settings.embedding.model)
        return self._embedder

    @property
    def judge_configured(self) -> bool:
        """Return True when llmops.yaml / LLMOPS_JUDGE_* name a judge."""
        return bool(self.settings.judge.base_url and self.settings.judge.model)

    def judge_temperature(self, samples: int) -> float:
        """Return 0 unless set; 0.7 when several samples are asked for."""
        if self.suite.judge.temperature is not None:
            return self.suite.judge.temperature
        return 0.7 if samples > 1 else 0.0

    def other_target(self, spec: Any) -> Target:
        """Create (once) another target, for pairwise comparisons."""
        key = cache_key(spec.model_dump(mode="json"))
        if key not in self._others:
            try:
                other = create_target(spec, self.settings)
                if isinstance(other, CheckedTarget):
                    other.check()
                self._others[key] = other
            except LLMOpsError as exc:
                raise self._located(exc, "metrics") from None
        return self._others[key]

    async def run_other(self, spec: Any, record: GoldenRecord, *, repeat: int = 0) -> TargetOutput:
        """Run another target on ``record`` through the cache."""
        return await self._run_on(self.other_target(spec), record, AS_WRITTEN, repeat=repeat)

    async def run_variant(
        self, record: GoldenRecord, variant: Variant, *, tag: str, repeat: int = 0
    ) -> TargetOutput:
        """Run the target on a variant of ``record`` through the cache."""
        return await self._run_on(self.target, record, variant, repeat=repeat, label=f"{tag}: ")

    async def _run_on(
        self,
        target: Target,
        record: GoldenRecord,
        variant: Variant,
        *,
        repeat: int,
        label: str = "",
    ) -> TargetOutput:
        def prepare() -> PreparedCall:
            # One retrieval at a time: the embedded store and the tokenizer are shared.
            with self._prepare_lock:
                return target.prepare(record, variant)

        try:
            call = await asyncio.to_thread(prepare)
        except LLMOpsError as exc:
            return TargetOutput(error=f"{label}{exc}")
        return await self._call_target(call, repeat, target)

    # -- planning ------------------------------------------------------------------------------

    def _done_key(self, record: GoldenRecord, call: PreparedCall, repeat: int) -> str:
        # Everything that can change a finished row: the call, the record (reference, labels,
        # sources), the metrics, the judge and its rubrics.
        return cache_key(
            {
                "item-done": cache_key({**call.material, "repeat": repeat}),
                "record": record.model_dump(mode="json"),
                "llmops": llmops_version(),
                "metrics": [m.spec.model_dump(mode="json") for m in self.metrics],
                "judge": [self.settings.judge.base_url, self.settings.judge.model],
                "samples": self.suite.judge.samples,
                "rubrics": {k: v.content_hash for k, v in self.rubric.loaded.items()},
            }
        )

    def plan(self) -> tuple[list[_Planned], Preflight]:
        """Prepare every call and count what is not cached yet."""
        planned: list[_Planned] = []
        pre = Preflight(items=len(self.golden), repeats=self.repeats)
        judging = self.judge_configured
        for record in self.golden:
            try:
                base = self.target.prepare(record)
            except LLMOpsError as exc:
                raise self._located(exc, "target") from None
            for repeat in range(self.repeats):
                done_key = self._done_key(record, base, repeat)
                planned.append(_Planned(record, repeat, base, done_key))
                if self.cache.has(done_key):
                    pre.cached_items += 1
                    continue
                target_hit = self.cache.has(cache_key({**base.material, "repeat": repeat}))
                if not target_hit:
                    pre.target_calls += 1
                    pre.est_tokens += base.est_tokens + int(base.params.get("max_tokens") or 256)
                probes = sum(m.target_calls(record) for m in self.metrics)
                pre.probe_calls += probes
                pre.est_tokens += probes * (base.est_tokens + 256)
                if judging:
                    calls = sum(m.judge_calls(record) for m in self.metrics if m.needs_judge)
                    pre.judge_calls += calls
                    pre.est_tokens += calls * (base.est_tokens + 600)
        price = max(self.suite.target.cost_per_1k_tokens, self.suite.judge.cost_per_1k_tokens)
        pre.est_cost = pre.est_tokens / 1000.0 * price
        pre.over_budget = budget_overruns(pre, self.suite.budget)
        return planned, pre

    # -- running -------------------------------------------------------------------------------

    async def _call_target(
        self, call: PreparedCall, repeat: int, target: Target | None = None
    ) -> TargetOutput:
        if self._caller is None:  # pragma: no cover - only inside run()
            raise RuntimeError("not running")
        target = target or self.target
        started = time.perf_counter()
        try:
            outcome = await self._caller.call(
                "target", {**call.material, "repeat": repeat}, lambda: target.execute(call)
            )
        except LLMOpsError as exc:
            return TargetOutput(
                contexts=call.contexts,
                error=str(exc),
                lineage=call.lineage,
                latency_ms=(time.perf_counter() - started) * 1000.0,
            )
        output = target.output(call, outcome.value, outcome.cached)
        if not outcome.cached:
            output.latency_ms = output.latency_ms or (time.perf_counter() - started) * 1000.0
            tokens = output.prompt_tokens + output.completion_tokens
            output.cost = tokens / 1000.0 * self.suite.target.cost_per_1k_tokens
        return output

    async def _run_item(self, item: _Planned) -> ItemRow:
        done = self.cache.get(item.done_key)
        if done is not None and "row" in done:
            # Every call and metric of this item is unchanged: reuse the finished row.
            self.stats.cache_hits += 1
            row = ItemRow.model_validate(done["row"])
            row.output.cached = True
            return row
        output = await self._call_target(item.call, item.repeat)
        ctx = ItemContext(
            record=item.record, output=output, services=self.services, repeat=item.repeat
        )

        async def one(metric: Metric) -> MetricResult:
            if output.error:
                return MetricResult.errored(f"target failed: {output.error}")
            try:
                return await metric.evaluate(ctx)
            except LLMOpsError as exc:
                return MetricResult.errored(str(exc))

        results = await asyncio.gather(*(one(m) for m in self.metrics))
        lineage = output.lineage.model_copy(update={"judge": self._judge_lineage()})
        row = ItemRow(
            id=item.record.id,
            repeat=item.repeat,
            input=item.record.question,
            reference=item.record.reference,
            tags=list(item.record.tags),
            attributes=dict(item.record.attributes),
            output=output,
            metrics={m.spec.name: r for m, r in zip(self.metrics, results, strict=True)},
            lineage=lineage,
        )
        if not output.error and all(r.status != "error" for r in results):
            self.cache.put(
                item.done_key, {"id": item.record.id, "row": row.model_dump(mode="json")}
            )
        return row

    def _judge_lineage(self) -> JudgeLineage | None:
        if self._judge is None:
            return None
        rubric = None
        for metric in self.metrics:
            if isinstance(metric, JudgedMetric) and metric.rubric_ref in self.rubric.loaded:
                rubric = self.rubric.loaded[metric.rubric_ref].lineage
                break
        return self._judge.lineage(rubric)

    async def _run_all(self, planned: list[_Planned], rows: list[ItemRow]) -> None:
        concurrency = self.options.concurrency or self.suite.concurrency
        self._caller = ModelCaller(
            self.cache,
            concurrency=concurrency,
            retries=self.suite.retries,
            timeout=self.suite.timeout,
            stats=self.stats,
            judge_timeout=self.suite.judge.timeout or self.settings.judge.timeout,
        )
        if self.judge_configured and any(m.needs_judge for m in self.metrics):
            from llmops.evals.judge import Judge

            self._judge = Judge(
                self.settings.judge.model_copy(update={"timeout": self._caller.judge_timeout}),
                self._caller,
                cost_per_1k_tokens=self.suite.judge.cost_per_1k_tokens,
            )
            self.services = replace(self.services, judge=self._judge)
        # Items are admitted a little ahead of the call semaphore so it never idles.
        gate = asyncio.Semaphore(concurrency * 2)
        progress = RunProgress(len(planned), self.suite.suite_name, enabled=self.options.progress)

        async def guarded(item: _Planned) -> None:
            async with gate:
                rows.append(await self._run_item(item))
                progress.advance()

        try:
            with progress:
                await asyncio.gather(*(guarded(item) for item in planned))
        finally:
            await self.target.aclose()
            for other in self._others.values():
                await other.aclose()
            if self._judge is not None:
                await self._judge.aclose()

    def run(self, baseline: dict[str, Any] | None = None) -> RunResult:
        """Plan, check the budget, run, summarise and gate. KeyboardInterrupt keeps partials."""
        planned, pre = self.plan()
        if self.options.on_preflight is not None:
            self.options.on_preflight(pre)
        if pre.over_budget and not self.options.yes:
            raise UsageError(
                "over budget: " + "; ".join(pre.over_budget),
                hint="raise the suite's budget, or pass --yes to run anyway",
                file=self.suite.path,
                line=self.suite.line_of("budget"),
            )
        started = datetime.now(UTC)
        clock = time.perf_counter()
        rows: list[ItemRow] = []
        result = RunResult(
            suite=self.suite.suite_name,
            suite_file=str(self.suite.path) if self.suite.path else None,
            run_id=uuid.uuid4().hex[:16],
            started_at=started.isoformat(timespec="seconds"),
            items=len(self.golden),
            repeats=self.repeats,
            preflight=pre,
        )
        try:
            asyncio.run(self._run_all(planned, rows))
        except KeyboardInterrupt:
            result.partial = True
            self._finish(result, rows, clock, baseline)
            self.partial_result = result
            raise
        self._finish(result, rows, clock, baseline)
        return result

    def _finish(
        self, result: RunResult, rows: list[ItemRow], clock: float, baseline: dict[str, Any] | None
    ) -> None:
        stamp = {
            "dataset_hash": self.golden.content_hash,
            "llmops_version": llmops_version(),
            "git_commit": git_commit(self.suite.root),
        }
        result.take_rows(rows, stamp)
        result.judge = (
            {"base_url": self.settings.judge.base_url, "model": self.settings.judge.model}
            if self.judge_configured
            else {"skipped": NO_JUDGE}
        )
        self.stats.cost = sum(r.output.cost for r in rows if not r.output.cached)
        result.calls = self.stats
        result.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
        result.wall_s = round(time.perf_counter() - clock, 3)
        summarize(result, self.metrics, self.suite.gate)
        result.calibration = calibrate(result)
        apply_gate(
            result,
            self.metrics,
            self.suite.gate,
            baseline,
            min_kappa=self.suite.judge.min_kappa,
            slices=self.suite.slices,
        )
        stale = self.stale_indexes()
        if stale:  # recorded in results.json and the reports; the CLI warns or refuses
            result.gate["stale_indexes"] = [vars(s) for s in stale]


def run_suite(
    suite: Suite,
    settings: Settings,
    options: RunOptions | None = None,
    *,
    use_baseline: bool = True,
) -> RunResult:
    """Run ``suite`` and gate it against its committed baseline (when there is one)."""
    runner = EvalRunner(suite, settings, options)
    baseline = load_baseline(suite.baseline_path) if use_baseline else None
    return runner.run(baseline)
