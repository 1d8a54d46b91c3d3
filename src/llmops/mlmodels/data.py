"""Tabular data: loading a spec's dataset and profiling it (the reference for checks and drift)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmops.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    import pandas as pd

    from llmops.mlmodels.spec import ModelSpec

__all__ = [
    "ColumnProfile",
    "DataProfile",
    "dataset_hash",
    "feature_columns",
    "load_dataset",
    "load_table",
    "profile_frame",
]

SAMPLE_SIZE = 2000
PSI_BINS = 10


class ColumnProfile(BaseModel):
    """Statistics of one column, enough to validate new data and measure drift against it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["numeric", "categorical"]
    dtype: str
    rows: int
    missing: float = Field(description="share of nulls")
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    bin_edges: list[float] = Field(default_factory=list, description="quantile edges (PSI)")
    bin_fractions: list[float] = Field(default_factory=list)
    sample: list[float] = Field(default_factory=list, description="values for the KS test")
    categories: dict[str, float] = Field(default_factory=dict, description="value -> share")


class DataProfile(BaseModel):
    """The training data profile, logged with every run as ``profile.json``."""

    model_config = ConfigDict(extra="forbid")

    rows: int
    target: str
    classes: list[str] | None = None
    dataset_hash: str
    columns: list[ColumnProfile]

    def column(self, name: str) -> ColumnProfile | None:
        """Return the profile of ``name``, or None."""
        return next((c for c in self.columns if c.name == name), None)

    @property
    def features(self) -> list[ColumnProfile]:
        """Return the profiles of the input columns (all but the target)."""
        return [c for c in self.columns if c.name != self.target]


def load_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame."""
    import pandas as pd

    if not path.is_file():
        raise NotFoundError(f"no data file at '{path}'", hint="check dataset.path in the spec")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt", ".gz"):
            return pd.read_csv(path)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"cannot read '{path}': {exc}") from None
    raise ConfigError(
        f"unsupported data file type '{suffix}' for '{path}'", hint="use .csv or .parquet"
    )


def _sklearn_frame(name: str) -> pd.DataFrame:
    from sklearn import datasets

    loader = getattr(datasets, f"load_{name}", None)
    if loader is None or name in ("files", "svmlight_file", "svmlight_files", "sample_image"):
        raise ConfigError(
            f"unknown sklearn dataset '{name}'",
            key="dataset.sklearn",
            hint="use breast_cancer, wine, iris or diabetes",
        )
    bunch = loader(as_frame=True)
    frame = bunch.frame.copy()
    frame.columns = [str(c).strip().replace(" ", "_") for c in frame.columns]
    names = getattr(bunch, "target_names", None)
    if names is not None and len(names) and frame["target"].dtype.kind in "iu":
        frame["target"] = [str(names[i]) for i in frame["target"]]
    return frame


def load_dataset(spec: ModelSpec) -> pd.DataFrame:
    """Return the spec's training data as a DataFrame."""
    if spec.dataset.sklearn:
        return _sklearn_frame(spec.dataset.sklearn)
    return load_table(spec.resolve(spec.dataset.path or ""))


def feature_columns(spec: ModelSpec, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Return ``(numeric, categorical)`` inputs: declared in the spec, else inferred."""
    if spec.features.numeric or spec.features.categorical:
        return list(spec.features.numeric), list(spec.features.categorical)
    numeric: list[str] = []
    categorical: list[str] = []
    for name in frame.columns:
        if name == spec.target:
            continue
        kind = frame[name].dtype.kind
        (numeric if kind in "iuf" else categorical).append(str(name))
    return numeric, categorical


def dataset_hash(frame: pd.DataFrame) -> str:
    """Return a content hash of a DataFrame (values, columns and dtypes)."""
    import hashlib

    import pandas as pd

    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _numeric_profile(name: str, series: pd.Series, rows: int, seed: int) -> ColumnProfile:
    import numpy as np

    values = series.dropna().to_numpy(dtype=float)
    prof = ColumnProfile(
        name=name,
        kind="numeric",
        dtype=str(series.dtype),
        rows=rows,
        missing=float(series.isna().mean()) if rows else 0.0,
    )
    if values.size == 0:
        return prof
    prof.min, prof.max = _finite(values.min()), _finite(values.max())
    prof.mean, prof.std = (
        _finite(values.mean()),
        _finite(values.std(ddof=1) if values.size > 1 else 0),
    )
    edges = np.unique(np.quantile(values, np.linspace(0, 1, PSI_BINS + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=edges.size + 1)
    prof.bin_edges = [float(e) for e in edges]
    prof.bin_fractions = [float(c) / values.size for c in counts]
    if values.size > SAMPLE_SIZE:
        values = np.random.default_rng(seed).choice(values, SAMPLE_SIZE, replace=False)
    prof.sample = [float(v) for v in np.sort(values)]
    return prof


def _categorical_profile(name: str, series: pd.Series, rows: int) -> ColumnProfile:
    values = series.dropna().astype(str)
    shares = values.value_counts(normalize=True)
    return ColumnProfile(
        name=name,
        kind="categorical",
        dtype=str(series.dtype),
        rows=rows,
        missing=float(series.isna().mean()) if rows else 0.0,
        categories={str(k): float(v) for k, v in shares.items()},
    )


def profile_frame(
    frame: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    target: str,
    *,
    task: str = "classification",
    seed: int = 0,
) -> DataProfile:
    """Profile the feature and target columns of ``frame``."""
    rows = len(frame)
    columns: list[ColumnProfile] = []
    for name in numeric:
        columns.append(_numeric_profile(name, frame[name], rows, seed))
    for name in categorical:
        columns.append(_categorical_profile(name, frame[name], rows))
    classes: list[str] | None = None
    if target in frame.columns:
        if task == "classification":
            columns.append(_categorical_profile(target, frame[target], rows))
            classes = sorted(str(v) for v in frame[target].dropna().unique())
        else:
            columns.append(_numeric_profile(target, frame[target], rows, seed))
    return DataProfile(
        rows=rows,
        target=target,
        classes=classes,
        dataset_hash=dataset_hash(frame),
        columns=columns,
    )
