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
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from llmops.errors import ConfigError
from llmops.evals.records import MetricResult, TargetOutput
from llmops.registry import Registry

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.embeddings import Embedder
    from llmops.evals.golden import GoldenRecord
    from llmops.evals.judge import Judge
    from llmops.evals.suite import MetricSpec
    from llmops.evals.targets import Variant
    from llmops.prompts import PromptRegistry, PromptVersion

__all__ = [
    "BUILTIN_MODULES",
    "EVAL_METRICS",
    "BaseMetric",
    "EvalServices",
    "ItemContext",
    "JudgedMetric",
    "Metric",
    "RunOther",
    "Rubrics",
    "RunVariant",
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


class RunOther(Protocol):
    """Run another target (a pairwise comparison's) on a record, through the cache."""

    async def __call__(self, spec: Any, record: GoldenRecord, *, repeat: int = 0) -> TargetOutput:
        """Return the other target's output."""
        ...


class RunVariant(Protocol):
    """Run the suite's target on a variant of a record (a probe), through the cache."""

    async def __call__(
        self, record: GoldenRecord, variant: Variant, *, tag: str, repeat: int = 0
    ) -> TargetOutput:
        """Return the target's output for the variant."""
        ...


class Rubrics:
    """Registry prompts by reference, each loaded once (the registry opens on first use)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loaded: dict[str, PromptVersion] = {}
        self._registry: PromptRegistry | None = None

    def __call__(self, ref: str) -> PromptVersion:
        """Return the registry prompt ``ref``."""
        if ref not in self.loaded:
            if self._registry is None:
                from llmops.prompts import load_registry

                self._registry = load_registry(self.settings)
            self.loaded[ref] = self._registry.get(ref)
        return self.loaded[ref]


def _local_embedder() -> Embedder:
    from llmops.embeddings import get_embedder

    return get_embedder()


def _temperature(samples: int) -> float:
    return 0.7 if samples > 1 else 0.0


def _no_rubric(ref: str) -> Any:
    from llmops.errors import NotFoundError

    raise NotFoundError(f"no prompt registry lent to this metric: cannot resolve rubric '{ref}'")


_NO_OTHERS = "no other targets lent to this metric: pairwise comparisons run in an eval run only"


def _no_other_target(spec: Any) -> Any:
    raise ConfigError(_NO_OTHERS)


async def _no_run_other(spec: Any, record: GoldenRecord, *, repeat: int = 0) -> TargetOutput:
    raise ConfigError(_NO_OTHERS)


async def _no_run_variant(
    record: GoldenRecord, variant: Variant, *, tag: str, repeat: int = 0
) -> TargetOutput:
    raise ConfigError(f"{tag}: no target lent to this metric: probes run in an eval run only")


@dataclass(frozen=True)
class EvalServices:
    """What the runner lends a metric, explicitly: the embedder, the judge and its settings,
    rubric prompts, and extra target calls. The runner builds one per run (the judge exists
    only while its event loop runs); the defaults lend nothing that needs a model call."""

    embedder: Callable[[], Embedder] = _local_embedder
    judge: Judge | None = None
    judge_configured: bool = False
    judge_missing: str = "no judge configured"
    judge_samples: int = 1
    judge_aggregate: str = "mean"
    judge_temperature: Callable[[int], float] = _temperature
    rubric: Callable[[str], Any] = _no_rubric
    other_target: Callable[[Any], Any] = _no_other_target
    run_other: RunOther = _no_run_other
    run_variant: RunVariant = _no_run_variant


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


@runtime_checkable
class JudgedMetric(Protocol):
    """A metric that asks the judge with a rubric prompt (its lineage goes on every row)."""

    rubric_ref: str


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
