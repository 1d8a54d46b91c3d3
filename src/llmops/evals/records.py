"""The data an eval run produces: target outputs, metric results, rows, and the run itself.

These are the JSON results format (``results.json``); baselines, JUnit, Markdown, HTML and MLflow
are all written from a ``RunResult``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmops.lineage import Lineage

__all__ = [
    "CallStats",
    "FlakyItem",
    "ItemRow",
    "MetricResult",
    "MetricSummary",
    "Preflight",
    "RunResult",
    "SliceCell",
    "SliceCheck",
    "SliceReport",
    "SliceRow",
    "Status",
    "TargetOutput",
]

Status = Literal["pass", "fail", "n/a", "skipped", "error"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetOutput(_Model):
    """What the target answered for one item."""

    answer: str = ""
    contexts: list[dict[str, Any]] = Field(
        default_factory=list, description="retrieved/cited passages: id, text, source, score"
    )
    citations: list[str] = Field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    cost: float = 0.0
    cached: bool = False
    error: str | None = None
    lineage: Lineage = Field(default_factory=Lineage)


class MetricResult(_Model):
    """One metric on one item: a score in [0, 1] and a verdict, or why there is none."""

    score: float | None = None
    status: Status = "n/a"
    reason: str = ""
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def scored(
        cls, score: float, threshold: float, reason: str = "", **details: Any
    ) -> MetricResult:
        """Return a pass/fail result for ``score`` against ``threshold``."""
        score = float(min(1.0, max(0.0, score)))
        status: Status = "pass" if score >= threshold else "fail"
        return cls(score=score, status=status, reason=reason, details=details)

    @classmethod
    def not_applicable(cls, reason: str) -> MetricResult:
        """Return a result for an item the metric does not apply to."""
        return cls(status="n/a", reason=reason)

    @classmethod
    def skipped(cls, reason: str) -> MetricResult:
        """Return a result that was not computed (e.g. no judge configured)."""
        return cls(status="skipped", reason=reason)

    @classmethod
    def errored(cls, reason: str) -> MetricResult:
        """Return a result whose computation failed."""
        return cls(status="error", reason=reason)


class ItemRow(_Model):
    """One golden record run once (one repeat) with all metrics."""

    id: str
    repeat: int = 0
    input: str
    reference: str | None = None
    tags: list[str] = Field(default_factory=list)
    attributes: dict[str, str] = Field(default_factory=dict)
    output: TargetOutput
    metrics: dict[str, MetricResult] = Field(default_factory=dict)
    lineage: Lineage = Field(default_factory=Lineage)


class FlakyItem(_Model):
    """An item whose verdict on a metric changed between repeats."""

    id: str
    metric: str
    verdicts: list[str]
    flip_rate: float = Field(description="share of repeats disagreeing with the majority verdict")


class MetricSummary(_Model):
    """One metric over the run, plus the gate's view of it."""

    name: str
    type: str
    mean: float | None = None
    pass_rate: float | None = None
    threshold: float
    weight: float = 1.0
    min: float | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    baseline_mean: float | None = None
    diff: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    paired_items: int = 0
    status: Literal["pass", "fail", "skipped", "error"] = "pass"
    reasons: list[str] = Field(default_factory=list)


class SliceCell(_Model):
    """One metric within one slice: its mean over the slice's scored items, and vs baseline."""

    n: int = Field(description="items of the slice scored on this metric")
    mean: float | None = None
    baseline_mean: float | None = None
    diff: float | None = Field(None, description="paired mean change vs the baseline")
    paired_items: int = 0


class SliceRow(_Model):
    """One slice (``by=value``) and its metrics."""

    by: str = Field(description="an attribute name, or 'tags'")
    value: str
    items: int = Field(description="items in the slice")
    metrics: dict[str, SliceCell] = Field(default_factory=dict)

    @property
    def label(self) -> str:
        """Return ``by=value``."""
        return f"{self.by}={self.value}"


SliceStatus = Literal["pass", "fail", "too few items"]


class SliceCheck(_Model):
    """One slice rule judged on one slice (``min``, ``no_regression``) or one dimension
    (``max_gap``, between its best and worst slice)."""

    rule: Literal["min", "max_gap", "no_regression"]
    metric: str
    by: str
    slice: str = Field(description="the slice's value; for max_gap 'best vs worst'")
    n: int = Field(description="items judged (for max_gap: of the smaller of the two slices)")
    value: float | None = Field(None, description="slice mean, gap, or paired change")
    bound: float = Field(description="the rule's bound: min, max_gap, or -min_effect")
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = Field(None, description="one-sided bootstrap p, before correction")
    p_adjusted: float | None = Field(None, description="after the multiplicity correction")
    status: SliceStatus = "pass"
    reason: str = ""

    @property
    def label(self) -> str:
        """Return ``by=value`` (or the dimension for a gap check)."""
        return f"{self.by}={self.slice}" if self.rule != "max_gap" else f"{self.by} ({self.slice})"


class SliceReport(_Model):
    """Results broken down by slices, and the slice gate's verdicts."""

    by: list[str]
    min_items: int
    alpha: float = Field(description="family-wise significance level of the slice checks")
    correction: str = Field(description="multiplicity correction over every judged check")
    tests: int = Field(0, description="checks judged (the family the correction is over)")
    slices: list[SliceRow] = Field(default_factory=list)
    checks: list[SliceCheck] = Field(default_factory=list)
    passed: bool = True

    @property
    def failed(self) -> list[SliceCheck]:
        """Return the checks that failed."""
        return [c for c in self.checks if c.status == "fail"]


class Preflight(_Model):
    """What a run was about to spend, counted before any call: what the suite's budget checked.

    Counts are upper bounds: a metric may need fewer judge calls than it can take, and a call
    that another item already made is answered by the cache.
    """

    items: int = Field(description="golden items in the run")
    repeats: int = Field(description="times each item runs")
    target_calls: int = Field(0, description="item runs whose target answer is not cached")
    probe_calls: int = Field(
        0,
        description="extra target calls of behavioural metrics (injected attacks, reworded variants)",
    )
    judge_calls: int = Field(0, description="judge calls the judged metrics may make")
    cached_items: int = Field(
        0, description="item runs finished before with the same calls: reused whole"
    )
    est_tokens: int = Field(
        0,
        description="estimated tokens; per call, the prompt and contexts as the embedding model's "
        "tokenizer counts them plus max_tokens (else 256) for a target call, 256 for a probe and "
        "600 for a judge call",
    )
    est_cost: float = Field(
        0.0, description="est_tokens priced at the higher of target and judge cost_per_1k_tokens"
    )
    over_budget: list[str] = Field(
        default_factory=list, description="one line per budget limit exceeded (empty: within)"
    )

    @property
    def model_calls(self) -> int:
        """Return the model calls the run will make at most."""
        return self.target_calls + self.probe_calls + self.judge_calls

    def describe(self) -> str:
        """Return a one-line summary."""
        return (
            f"{self.items} item(s) x {self.repeats} repeat(s): up to {self.model_calls} model "
            f"call(s) ({self.target_calls} target, {self.probe_calls} probe, "
            f"{self.judge_calls} judge), ~{self.est_tokens} tokens, ~${self.est_cost:.4f}"
        )


class CallStats(_Model):
    """Model calls the run made, as they happened."""

    target_calls: int = Field(
        0, description="requests sent to the target, each retry counted; cache hits are not"
    )
    judge_calls: int = Field(0, description="requests sent to the judge, each retry counted")
    cache_hits: int = Field(0, description="calls and finished item runs answered by the cache")
    cache_misses: int = Field(0, description="calls the cache could not answer (then made)")
    retries: int = Field(0, description="retries after a retryable failure (429, 5xx, timeout)")
    prompt_tokens: int = Field(0, description="prompt tokens the upstreams reported")
    completion_tokens: int = Field(0, description="completion tokens the upstreams reported")
    cost: float = Field(
        0.0, description="the target's cost of the uncached items (target cost_per_1k_tokens)"
    )

    @property
    def model_calls(self) -> int:
        """Return calls that reached a model (cache misses)."""
        return self.target_calls + self.judge_calls

    @property
    def hit_rate(self) -> float:
        """Return the share of lookups answered from the cache."""
        total = self.cache_hits + self.cache_misses
        return self.cache_hits / total if total else 0.0


class RunResult(_Model):
    """A whole suite execution."""

    suite: str
    suite_file: str | None = None
    # Set once by the runner (random); empty in results written before it existed, whose id is
    # then derived from their contents (``dashboard.runs.run_id_of``).
    run_id: str = ""
    started_at: str
    finished_at: str | None = None
    wall_s: float = 0.0
    partial: bool = False
    items: int = 0
    repeats: int = 1
    lineage: Lineage = Field(default_factory=Lineage)
    judge: dict[str, Any] = Field(default_factory=dict)
    preflight: Preflight | None = Field(
        None, description="the pre-flight estimate the budget checked (absent in older results)"
    )
    calls: CallStats = Field(default_factory=CallStats)
    metrics: list[MetricSummary] = Field(default_factory=list)
    overall_score: float | None = None
    flaky: list[FlakyItem] = Field(default_factory=list)
    calibration: dict[str, Any] = Field(default_factory=dict)
    gate: dict[str, Any] = Field(default_factory=dict)
    slices: SliceReport | None = None
    passed: bool | None = None
    rows: list[ItemRow] = Field(default_factory=list)

    def item_scores(self, metric: str) -> dict[str, float]:
        """Return item id -> mean score over repeats for ``metric`` (scored items only)."""
        sums: dict[str, list[float]] = {}
        for row in self.rows:
            result = row.metrics.get(metric)
            if result is not None and result.score is not None:
                sums.setdefault(row.id, []).append(result.score)
        return {k: sum(v) / len(v) for k, v in sums.items()}

    def take_rows(self, rows: list[ItemRow], stamp: dict[str, Any]) -> None:
        """Keep ``rows`` sorted by item and repeat, each lineage (and the run's) updated by ``stamp``."""
        rows.sort(key=lambda r: (r.id, r.repeat))
        for row in rows:
            row.lineage = row.lineage.model_copy(update=stamp)
        self.rows = rows
        first = rows[0].lineage if rows else Lineage()
        self.lineage = first.model_copy(update=stamp)
