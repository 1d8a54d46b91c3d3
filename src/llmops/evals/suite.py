"""Eval suites: ``evals/<name>.yaml``, loaded into pydantic models with file:line errors.

The vocabulary follows promptfoo where it fits: metrics are ``{type, value, threshold, weight,
metric}``, and paths may be written ``file://golden_sets/x.jsonl``. Paths resolve against the
project root (the folder holding llmops.yaml).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from llmops.errors import ConfigError
from llmops.suggest import suggestion
from llmops.validation import Share, needed_by, validate_model
from llmops.yamlfile import load_yaml

__all__ = [
    "BudgetSpec",
    "GateSpec",
    "JudgeSpec",
    "MetricSpec",
    "SliceRule",
    "SliceSpec",
    "Suite",
    "TargetSpec",
    "load_suite",
    "resolve_path",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _known(kind: str, value: str, known: list[str]) -> str:
    """Return ``value`` when it is one of ``known``; ValueError with a did-you-mean otherwise."""
    if value not in known:
        raise ValueError(
            f"unknown {kind} '{value}'{suggestion(value, known)}; known: {', '.join(known)}"
        )
    return value


class TargetSpec(_Model):
    """What answers the questions: in-process (prompt + pipeline + provider) or over HTTP."""

    type: str = Field(
        "inprocess", description="inprocess: prompt + pipeline + provider; http: an OpenAI API"
    )
    prompt: str | None = Field(None, description="prompt ref, e.g. rag-answer@production")
    pipeline: str | None = Field(None, description="RAG pipeline name whose index is queried")
    k: int = Field(5, ge=1, le=100, description="contexts retrieved per question")
    provider: str = Field("extractive", description="provider kind for inprocess targets")
    provider_options: dict[str, Any] = Field(default_factory=dict)
    url: str | None = Field(
        None, description="http: base URL of a gateway route or OpenAI-compatible API (.../v1)"
    )
    route: str | None = Field(None, description="http: gateway route name sent as the model")
    model: str | None = Field(None, description="model id sent upstream")
    api_key_env: str | None = Field(None, description="http: env var holding the API key")
    params: dict[str, Any] = Field(
        default_factory=lambda: {"temperature": 0},
        description="sampling parameters; temperature 0 unless set",
    )
    cost_per_1k_tokens: float = Field(0.0, ge=0, description="estimated USD per 1k tokens")

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        from llmops.evals.targets import available_targets

        return _known("target type", value, available_targets())

    @model_validator(mode="after")
    def _check(self) -> TargetSpec:
        return needed_by(self, "http", "url", "an http target")


class MetricSpec(_Model):
    """One metric: ``{type, value, threshold, weight, metric}`` plus type-specific options."""

    type: str = Field(description="metric type, e.g. contains, rouge-l, hit-at-k, judge")
    metric: str | None = Field(None, description="name in reports; default: the type")
    value: Any = Field(None, description="type-specific argument (text, pattern, schema, rubric)")
    threshold: float | None = Field(None, description="per-item pass score; default per type")
    weight: float = Field(1.0, ge=0, description="weight in the suite's overall score")
    min: float | None = Field(None, description="absolute gate: the mean must be at least this")
    k: int | None = Field(None, ge=1, description="retrieval cut-off (hit@k, nDCG@k, ...)")
    gate: bool = Field(True, description="take part in the regression gate")
    options: dict[str, Any] = Field(default_factory=dict, description="type-specific options")

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        from llmops.evals.metrics import available_metrics

        return _known("metric type", value, available_metrics())

    @property
    def name(self) -> str:
        """Return the reported name."""
        return self.metric or self.type


class JudgeSpec(_Model):
    """Judge overrides; the endpoint comes from llmops.yaml ``judge:`` or LLMOPS_JUDGE_*."""

    samples: int = Field(1, ge=1, le=15, description="verdicts per item")
    aggregate: Literal["mean", "majority"] = "mean"
    temperature: float | None = Field(None, ge=0, description="default 0 (or 0.7 when samples>1)")
    cost_per_1k_tokens: float = Field(0.0, ge=0)
    min_kappa: float | None = Field(
        None, ge=-1, le=1, description="fail when agreement with human labels falls below this"
    )
    timeout: float | None = Field(
        None, gt=0, description="seconds per judge call; default: llmops.yaml judge.timeout"
    )


class BudgetSpec(_Model):
    """Pre-flight limits: refuse to start above them unless --yes."""

    max_calls: int | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, ge=0)
    max_cost: float | None = Field(None, ge=0, description="USD")


class GateSpec(_Model):
    """Regression gate against the committed baseline."""

    baseline: str | None = Field(None, description="default evals/baselines/<suite>.json")
    alpha: float = Field(0.05, gt=0, lt=0.5, description="two-sided significance level")
    min_effect: float = Field(0.02, ge=0, description="ignore drops smaller than this")
    resamples: int = Field(2000, ge=100, le=100_000)
    seed: int = 0
    errors: Literal["fail", "ignore", "zero"] = Field(
        "fail", description="errored items: fail the gate, leave them out, or score them 0"
    )
    max_error_rate: Share = Field(0.0, description="with errors=fail")


class SliceRule(_Model):
    """A rule every slice must keep on the named metrics, judged by bootstrap."""

    metric: str | list[str] = Field(description="metric name(s) the rule judges")
    by: list[str] | None = Field(
        None, description="the slice dimensions it applies to (default: every one in slices.by)"
    )
    min: Share | None = Field(
        None, description="fail a slice whose mean is significantly below this"
    )
    max_gap: Share | None = Field(
        None,
        description="fail when the best slice's mean exceeds the worst's by significantly more",
    )
    no_regression: bool = Field(
        False,
        description="fail a slice significantly below the baseline by more than min_effect",
    )
    min_effect: float | None = Field(
        None, ge=0, description="no_regression: ignore smaller drops (default gate.min_effect)"
    )

    @model_validator(mode="after")
    def _some_rule(self) -> SliceRule:
        if self.min is None and self.max_gap is None and not self.no_regression:
            raise ValueError("a slice rule needs at least one of min, max_gap, no_regression")
        return self

    @property
    def metrics(self) -> list[str]:
        """Return the metric names the rule judges."""
        return [self.metric] if isinstance(self.metric, str) else list(self.metric)


class SliceSpec(_Model):
    """Break results down by golden-set attributes or tags, and gate on every slice."""

    by: list[str] = Field(
        min_length=1, description="attribute names to slice by; 'tags' slices by tag"
    )
    min_items: int = Field(
        10,
        ge=2,
        description="a slice with fewer scored items gets 'too few items' instead of a verdict",
    )
    alpha: float = Field(
        0.05, gt=0, lt=0.5, description="family-wise false-alarm rate over all slice checks"
    )
    correction: Literal["holm", "bonferroni", "none"] = Field(
        "holm", description="multiplicity correction over every slice check of a run"
    )
    rules: list[SliceRule] = Field(default_factory=list)

    @field_validator("by")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        from llmops.evals.golden import ATTRIBUTE_NAME

        for name in value:
            if name != "tags" and not ATTRIBUTE_NAME.match(name):
                raise ValueError(f"'{name}' is not an attribute name (or 'tags')")
        dupes = sorted({n for n in value if value.count(n) > 1})
        if dupes:
            raise ValueError(f"repeated: {', '.join(dupes)}")
        return value

    @model_validator(mode="after")
    def _rule_dimensions(self) -> SliceSpec:
        for rule in self.rules:
            for name in rule.by or []:
                if name not in self.by:
                    raise ValueError(
                        f"rule slices by '{name}'{suggestion(name, self.by)}, which is not in slices.by: "
                        f"{', '.join(self.by)}"
                    )
        return self


class Suite(_Model):
    """An eval suite file."""

    schema_: str | None = Field(None, alias="$schema")
    name: str | None = Field(None, description="default: the file name without .yaml")
    description: str | None = None
    dataset: str | list[str] = Field(description="golden set file(s), relative to the project")
    tags: list[str] = Field(default_factory=list, description="only records with these tags")
    limit: int | None = Field(None, ge=1, description="only the first N records")
    target: TargetSpec
    metrics: list[MetricSpec] = Field(min_length=1)
    judge: JudgeSpec = Field(default_factory=JudgeSpec)
    repeats: int = Field(1, ge=1, le=50)
    concurrency: int = Field(8, ge=1, le=256)
    retries: int = Field(3, ge=0, le=10)
    timeout: float = Field(
        60.0, gt=0, description="seconds per target call (judge calls: judge.timeout)"
    )
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    gate: GateSpec = Field(default_factory=GateSpec)
    slices: SliceSpec | None = Field(
        None, description="break results down by golden-set attributes or tags; slice rules"
    )

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    # Filled by load_suite; not part of the file.
    _path: Path | None = PrivateAttr(None)
    _root: Path | None = PrivateAttr(None)
    _lines: dict[str, int] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _unique_names(self) -> Suite:
        names = [m.name for m in self.metrics]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"metric names must be unique; repeated: {', '.join(dupes)}")
        return self

    @property
    def path(self) -> Path | None:
        """Return the file the suite came from."""
        return self._path

    @property
    def root(self) -> Path:
        """Return the folder that relative paths resolve against."""
        return self._root or Path.cwd()

    @property
    def suite_name(self) -> str:
        """Return the suite's name (``name`` or the file stem)."""
        if self.name:
            return self.name
        return self._path.stem if self._path else "suite"

    @property
    def dataset_files(self) -> list[Path]:
        """Return the golden-set files as absolute paths."""
        items = [self.dataset] if isinstance(self.dataset, str) else list(self.dataset)
        return [resolve_path(item, self.root) for item in items]

    @property
    def baseline_path(self) -> Path:
        """Return where the committed baseline lives."""
        if self.gate.baseline:
            return resolve_path(self.gate.baseline, self.root)
        base = self._path.parent if self._path else self.root / "evals"
        return base / "baselines" / f"{self.suite_name}.json"

    def line_of(self, key: str) -> int | None:
        """Return the line of a top-level key (``target``, ``dataset``) in the file."""
        return self._lines.get(key)


def resolve_path(value: str, root: Path) -> Path:
    """Resolve ``file://x`` or ``x`` against ``root``."""
    value = value.removeprefix("file://")
    path = Path(value).expanduser()
    return path if path.is_absolute() else (root / path)


def load_suite(path: str | Path, root: Path | None = None) -> Suite:
    """Load a suite file; relative paths resolve against ``root`` (default: the project root)."""
    from llmops.config import find_project_root

    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"suite '{path}' not found", file=path, hint="list suites with: ls evals/*.yaml"
        )
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError("expected a mapping at the top level", file=path, line=1)
    suite = validate_model(Suite, doc)
    suite._path = path.resolve()
    if root is None:
        found, config = find_project_root(path.resolve().parent)
        # Without an llmops.yaml anywhere, evals/<suite>.yaml lives one level below the root.
        root = found.parent if config is None and found.name == "evals" else found
    suite._root = root
    suite._lines = {str(k[0]): v for k, v in doc.lines.items() if len(k) == 1}
    for index in range(len(suite.metrics)):
        line = doc.line_of(["metrics", index])
        if line is not None:
            suite._lines[f"metrics.{index}"] = line
    _check_slice_metrics(suite, doc)
    return suite


def _check_slice_metrics(suite: Suite, doc: Any) -> None:
    """Fail on a slice rule naming a metric the suite does not have (file, line, did-you-mean)."""
    if suite.slices is None:
        return
    names = [m.name for m in suite.metrics]
    for index, rule in enumerate(suite.slices.rules):
        for name in rule.metrics:
            if name not in names:
                key = f"slices.rules.{index}.metric"
                raise ConfigError(
                    f"slice rule names unknown metric '{name}'{suggestion(name, names)}",
                    file=suite.path,
                    line=doc.line_of(["slices", "rules", index, "metric"]),
                    key=key,
                    hint=f"metrics of this suite: {', '.join(names)}",
                )
