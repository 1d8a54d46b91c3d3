"""The training spec: one YAML file per model in ``models/`` (dataset, features, estimator, gates)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from llmops.errors import ConfigError, NotFoundError
from llmops.validation import Share, load_yaml_model, validate_model
from llmops.yamlfile import load_yaml

__all__ = [
    "CardSpec",
    "DatasetSpec",
    "DriftRule",
    "EstimatorSpec",
    "ExplainSpec",
    "FairnessBounds",
    "FairnessSpec",
    "FeatureSpec",
    "ModelSpec",
    "MonitorSpec",
    "PromotionSpec",
    "RetrainSpec",
    "SearchSpec",
    "SensitiveAttribute",
    "ServingSpec",
    "SplitSpec",
    "ValidationSpec",
    "find_spec",
    "load_spec",
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetSpec(_Strict):
    """Where the training data comes from: a CSV/Parquet file, or a dataset bundled in sklearn."""

    path: str | None = Field(None, description="CSV or Parquet file, relative to the spec file")
    sklearn: str | None = Field(
        None,
        description="a dataset shipped inside scikit-learn: breast_cancer, wine, iris, diabetes",
    )

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        if (self.path is None) == (self.sklearn is None):
            raise ValueError("set exactly one of 'path' or 'sklearn'")
        return self


class FeatureSpec(_Strict):
    """Input columns by kind; leave both empty to use every column but the target."""

    numeric: list[str] = Field(default_factory=list, description="numeric input columns")
    categorical: list[str] = Field(default_factory=list, description="categorical input columns")


class EstimatorSpec(_Strict):
    """A scikit-learn estimator by class name (or dotted path) and its parameters."""

    name: str = Field(description="e.g. RandomForestClassifier or sklearn.svm.SVC")
    params: dict[str, Any] = Field(default_factory=dict, description="constructor arguments")
    scale: bool = Field(True, description="standardise numeric features before the estimator")


class SearchSpec(_Strict):
    """A small hyper-parameter search; every trial is a nested MLflow run."""

    params: dict[str, list[Any]] = Field(description="parameter -> candidate values")
    max_trials: int = Field(8, ge=1, le=200, description="sampled from the grid when it is larger")
    cv: int = Field(3, ge=2, le=10, description="cross-validation folds per trial")
    seed: int = 0


class SplitSpec(_Strict):
    """The held-out validation split."""

    test_size: float = Field(0.25, gt=0, lt=1)
    seed: int = 42
    stratify: bool = Field(True, description="keep class proportions (classification only)")


class PromotionSpec(_Strict):
    """The gate a challenger must pass to become champion."""

    metric: str | None = Field(None, description="default: the first of 'metrics'")
    margin: float = Field(0.0, ge=0, description="challenger must beat champion by at least this")


class ValidationSpec(_Strict):
    """Data checks that run before training and before scoring a batch."""

    max_missing: Share = Field(0.2, description="largest share of nulls per column")
    ranges: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="column -> [min, max] allowed"
    )
    categories: dict[str, list[str]] = Field(
        default_factory=dict, description="column -> allowed values"
    )
    max_mean_shift: float = Field(
        3.0, gt=0, description="largest mean shift against the champion's profile, in its std units"
    )


class DriftRule(_Strict):
    """When tabular drift counts as detected."""

    psi_threshold: float = Field(0.2, gt=0, description="a feature drifts when PSI >= this")
    p_value: float = Field(
        0.05, gt=0, lt=1, description="family-wise alpha for KS / chi-square (Bonferroni)"
    )
    max_drifted_share: Share = Field(
        0.2, description="the rule fires when more than this share of features drift"
    )
    min_rows: int = Field(30, ge=1, description="fewer rows than this: not enough evidence")


class RetrainSpec(_Strict):
    """What happens when the drift rule fires."""

    enabled: bool = True
    data: Literal["batch", "dataset_and_batch", "dataset"] = Field(
        "dataset_and_batch",
        description="the newest data: the labelled batch, the dataset plus the batch, or the dataset",
    )


class MonitorSpec(_Strict):
    """Drift monitoring and the retraining it triggers."""

    drift: DriftRule = Field(default_factory=DriftRule)
    retrain: RetrainSpec = Field(default_factory=RetrainSpec)


class ServingSpec(_Strict):
    """How the gateway serves the model."""

    shadow: bool = Field(
        False, description="also score every request with the challenger (logged, not returned)"
    )


class SensitiveAttribute(_Strict):
    """A column whose groups the fairness check compares (it need not be a model input)."""

    column: str = Field(description="a column of the dataset, e.g. sex")
    bins: list[float] | None = Field(
        None,
        min_length=1,
        description="numeric column: cut points that make the groups, e.g. [25] -> '<25', '>=25'",
    )

    @model_validator(mode="after")
    def _sorted_bins(self) -> SensitiveAttribute:
        if self.bins is not None and sorted(set(self.bins)) != self.bins:
            raise ValueError("'bins' must be strictly increasing cut points")
        return self


class FairnessBounds(_Strict):
    """Limits on the fairness measures, checked per sensitive attribute on the held-out rows."""

    demographic_parity_difference: Share | None = Field(
        None, description="largest gap in selection rate between groups (a maximum)"
    )
    demographic_parity_ratio: Share | None = Field(
        None,
        description="smallest / largest selection rate (a minimum; 0.8 is the four-fifths rule)",
    )
    equalized_odds_difference: Share | None = Field(
        None,
        description="largest gap in true or false positive rate between groups (a maximum)",
    )


class FairnessSpec(_Strict):
    """Subgroup metrics and fairness bounds (binary classification): the promotion gate checks them."""

    sensitive: list[SensitiveAttribute | str] = Field(
        min_length=1, description="columns to compare groups of: a name, or {column, bins}"
    )
    bounds: FairnessBounds = Field(default_factory=FairnessBounds)
    min_group_size: int = Field(
        30, ge=1, description="groups with fewer held-out rows are shown but not judged"
    )
    bootstrap: int = Field(
        1000, ge=0, le=20000, description="resamples for the 95% intervals shown (0: none)"
    )

    @property
    def attributes(self) -> list[SensitiveAttribute]:
        """Return every sensitive attribute in its long form."""
        return [SensitiveAttribute(column=a) if isinstance(a, str) else a for a in self.sensitive]


class ExplainSpec(_Strict):
    """The explanation report logged with every training run."""

    permutation_repeats: int = Field(
        5, ge=1, le=100, description="shuffles per feature for permutation importance"
    )
    shap: bool = Field(True, description="SHAP values for tree ensembles and linear models")
    shap_rows: int = Field(200, ge=1, description="held-out rows the mean |SHAP| is taken over")
    examples: int = Field(5, ge=0, le=50, description="held-out predictions explained one by one")
    top: int = Field(5, ge=1, le=50, description="contributions shown per prediction")
    seed: int = 0


class CardSpec(_Strict):
    """Free text for the model card."""

    intended_use: str = "Not documented."
    limitations: str = "Not documented."
    owners: list[str] = Field(default_factory=list)


class ModelSpec(_Strict):
    """One classic ML model: data, features, estimator, metrics, split and gates."""

    schema_: str | None = Field(None, alias="$schema", description="JSON Schema for editors")
    name: str = Field(pattern=NAME_PATTERN, description="registered model name in MLflow")
    description: str = ""
    task: Literal["classification", "regression"] = "classification"
    dataset: DatasetSpec
    target: str
    positive_class: str | int | None = Field(
        None, description="binary classification: the class scored by roc_auc/f1/precision/recall"
    )
    features: FeatureSpec = Field(default_factory=FeatureSpec)
    estimator: EstimatorSpec
    search: SearchSpec | None = None
    metrics: list[str] = Field(default_factory=lambda: ["accuracy"], min_length=1)
    split: SplitSpec = Field(default_factory=SplitSpec)
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="metric -> minimum (maximum for error metrics)"
    )
    promotion: PromotionSpec = Field(default_factory=PromotionSpec)
    validation: ValidationSpec = Field(default_factory=ValidationSpec)
    monitor: MonitorSpec = Field(default_factory=MonitorSpec)
    serving: ServingSpec = Field(default_factory=ServingSpec)
    fairness: FairnessSpec | None = Field(
        None, description="sensitive attributes and the bounds the promotion gate enforces"
    )
    explain: ExplainSpec = Field(default_factory=ExplainSpec)
    card: CardSpec = Field(default_factory=CardSpec)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    _file: Path | None = PrivateAttr(None)

    @property
    def file(self) -> Path | None:
        """Return the YAML file this spec was loaded from."""
        return self._file

    @property
    def gate_metric(self) -> str:
        """Return the metric the promotion gate compares."""
        return self.promotion.metric or self.metrics[0]

    def resolve(self, relative: str) -> Path:
        """Return a path from the spec resolved against the spec's folder."""
        base = self._file.parent if self._file else Path.cwd()
        return (base / relative).resolve()


def load_spec(path: str | Path) -> ModelSpec:
    """Load and check a training spec; errors name the file, line and key."""
    from llmops.mlmodels.estimators import resolve_estimator
    from llmops.mlmodels.metrics import get_metric

    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no model spec at '{path}'", hint="pass a YAML file under models/")
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError("expected a mapping at the top level", file=path, line=1)
    spec = validate_model(ModelSpec, doc)
    spec._file = path.resolve()
    # Semantic checks that need the registries; each error points at its key.
    try:
        resolve_estimator(spec.estimator.name)
    except ConfigError as exc:
        raise ConfigError(
            exc.message, hint=exc.hint, file=path, line=doc.line_of(["estimator", "name"])
        ) from None
    names = [*spec.metrics, *spec.thresholds, spec.gate_metric]
    for key, name in enumerate(names):
        try:
            get_metric(name, spec.task)
        except ConfigError as exc:
            loc: list[str | int] = (
                ["metrics", key]
                if key < len(spec.metrics)
                else ["thresholds", name]
                if name in spec.thresholds
                else ["promotion", "metric"]
            )
            raise ConfigError(
                exc.message, hint=exc.hint, file=path, line=doc.line_of(loc) or 1
            ) from None
    if spec.fairness is not None and spec.task != "classification":
        raise ConfigError(
            "fairness checks need a classification task (selection rates, error rates)",
            hint="remove the 'fairness' section or set task: classification",
            file=path,
            line=doc.line_of(["fairness"]) or 1,
        )
    return spec


def find_spec(name_or_path: str, models_dir: Path) -> ModelSpec:
    """Return the spec given its file path or its model name (searched in ``models_dir``)."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.is_file():
        return load_spec(candidate)
    for suffix in (".yaml", ".yml"):
        named = models_dir / f"{name_or_path}{suffix}"
        if named.is_file():  # the usual layout; its errors are the user's to see
            spec = load_spec(named)
            if spec.name == name_or_path:
                return spec
    names: list[str] = []
    for file in sorted([*models_dir.glob("*.yaml"), *models_dir.glob("*.yml")]):
        try:
            spec = load_yaml_model(file, ModelSpec)
        except ConfigError:
            continue
        names.append(spec.name)
        if spec.name == name_or_path:
            return load_spec(file)
    from llmops.suggest import suggestion

    raise NotFoundError(
        f"no model spec named '{name_or_path}' in {models_dir}" + suggestion(name_or_path, names),
        hint="pass the spec file path, or add models/<name>.yaml",
    )
