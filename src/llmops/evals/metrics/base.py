"""The metric contract: a small class per metric type, registered under a short id.

A metric scores one item (a golden record plus what the target answered) and returns a
``MetricResult``. Built-ins register exactly like a plugin would::

    from llmops.evals.metrics import BaseMetric, register_metric

    class Shouting(BaseMetric):
        default_threshold = 1.0
        async def evaluate(self, ctx):
            return self.result(float(ctx.output.answer.isupper()))

    register_metric("shouting", Shouting)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from llmops.errors import ConfigError
from llmops.evals.records import MetricResult, TargetOutput
from llmops.registry import Registry

if TYPE_CHECKING:
    from llmops.embeddings import Embedder
    from llmops.evals.golden import GoldenRecord
    from llmops.evals.judge import Judge
    from llmops.evals.suite import MetricSpec

__all__ = [
    "BUILTIN_MODULES",
    "EVAL_METRICS",
    "BaseMetric",
    "EvalServices",
    "ItemContext",
    "Metric",
    "available_metrics",
    "create_metric",
    "register_eval_metric",
    "register_metric",
]

BUILTIN_MODULES = (
    "llmops.evals.metrics.text",
    "llmops.evals.metrics.retrieval",
    "llmops.evals.metrics.behaviour",
    "llmops.evals.metrics.grounded",
    "llmops.evals.metrics.judged",
    "llmops.evals.metrics.ragas_metrics",
)


class EvalServices(Protocol):
    """What the runner lends a metric: the embedder, the judge, and extra target calls."""

    def embedder(self) -> Embedder:
        """Return the local embedding model."""
        ...

    @property
    def judge(self) -> Judge | None:
        """Return the judge, or None when none is configured."""
        ...

    @property
    def judge_configured(self) -> bool:
        """Return True when llmops.yaml or LLMOPS_JUDGE_* name a judge."""
        ...

    @property
    def judge_missing(self) -> str:
        """Return why there is no judge and how to configure one."""
        ...

    @property
    def judge_samples(self) -> int:
        """Return the suite's verdicts per item."""
        ...

    @property
    def judge_aggregate(self) -> str:
        """Return how samples combine: mean or majority."""
        ...

    def judge_temperature(self, samples: int) -> float:
        """Return the judge temperature (0 unless set, or 0.7 when sampling several verdicts)."""
        ...

    def rubric(self, ref: str) -> Any:
        """Return the registry prompt ``ref`` (has ``render(**vars)``); raise NotFoundError."""
        ...

    def other_target(self, spec: Any) -> Any:
        """Create (once) the target ``spec`` describes, for pairwise comparisons."""
        ...

    async def run_other(self, spec: Any, record: GoldenRecord, *, repeat: int = 0) -> TargetOutput:
        """Run another target on ``record`` through the cache."""
        ...

    async def run_variant(
        self,
        record: GoldenRecord,
        *,
        question: str | None = None,
        system_suffix: str | None = None,
        reorder_contexts: bool = False,
        tag: str,
        repeat: int = 0,
    ) -> TargetOutput:
        """Run the target on a variant of ``record`` (a probe), through the cache."""
        ...


@dataclass
class ItemContext:
    """Everything a metric sees for one item."""

    record: GoldenRecord
    output: TargetOutput
    services: EvalServices
    repeat: int = 0
    memo: dict[str, Any] = field(default_factory=dict, repr=False)  # shared by this item's metrics


class Metric(Protocol):
    """Scores one item."""

    spec: MetricSpec
    needs_judge: bool

    def setup(self, services: EvalServices) -> None:
        """Resolve what the metric needs before the run; raise on missing things."""
        ...

    @property
    def threshold(self) -> float:
        """Return the per-item pass score."""
        ...

    def judge_calls(self, record: GoldenRecord) -> int:
        """Return how many judge calls scoring ``record`` may take (for the pre-flight)."""
        ...

    def target_calls(self, record: GoldenRecord) -> int:
        """Return how many extra target calls (probes) scoring ``record`` takes."""
        ...

    async def evaluate(self, ctx: ItemContext) -> MetricResult:
        """Return the result for one item."""
        ...


class BaseMetric:
    """Convenience base: threshold handling and zero extra calls."""

    default_threshold: ClassVar[float] = 0.5
    needs_judge: bool = False

    def __init__(self, spec: MetricSpec) -> None:
        self.spec = spec
        self.configure()

    def configure(self) -> None:
        """Validate ``self.spec.value`` / ``options``; raise ConfigError on a bad value."""

    def setup(self, services: EvalServices) -> None:
        """Resolve what the metric needs before the run (rubrics); raise on missing things."""

    def bad_value(self, message: str) -> ConfigError:
        """Return a ConfigError about this metric's configuration."""
        return ConfigError(f"metric '{self.spec.name}' ({self.spec.type}): {message}")

    @property
    def threshold(self) -> float:
        """Return the per-item pass score."""
        return self.default_threshold if self.spec.threshold is None else self.spec.threshold

    def judge_calls(self, record: GoldenRecord) -> int:
        """Return 0: no judge."""
        return 0

    def target_calls(self, record: GoldenRecord) -> int:
        """Return 0: no probes."""
        return 0

    def option(self, name: str, default: Any) -> Any:
        """Return ``options[name]`` or ``default``."""
        return self.spec.options.get(name, default)

    def result(self, score: float, reason: str = "", **details: Any) -> MetricResult:
        """Return a pass/fail result against this metric's threshold."""
        return MetricResult.scored(score, self.threshold, reason, **details)

    async def evaluate(self, ctx: ItemContext) -> MetricResult:  # pragma: no cover - abstract
        """Return the result for one item."""
        raise NotImplementedError


MetricFactory = Callable[["MetricSpec"], Metric]
#: Eval metric types: the built-in modules register on first lookup; third-party metrics come
#: from the ``llmops.metrics`` entry points (each naming a factory ``(MetricSpec) -> Metric``).
EVAL_METRICS: Registry[MetricFactory] = Registry("metric type", group="llmops.metrics")


def register_eval_metric(kind: str, factory: MetricFactory) -> None:
    """Register an eval metric type; built-ins register exactly like plugins would."""
    EVAL_METRICS.register(kind, factory)


#: The first name of ``register_eval_metric`` (kept: it is public API).
register_metric = register_eval_metric


def _load_builtins() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def available_metrics() -> list[str]:
    """Return the registered metric types."""
    _load_builtins()
    return EVAL_METRICS.names()


def create_metric(spec: MetricSpec) -> Metric:
    """Create the metric a spec describes; an unknown type gets a did-you-mean."""
    _load_builtins()
    return EVAL_METRICS.get(spec.type)(spec)
