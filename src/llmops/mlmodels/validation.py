"""Data validation before training and scoring: schema, types, nulls, ranges, categories, stats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmops.errors import CheckFailedError

if TYPE_CHECKING:
    import pandas as pd

    from llmops.mlmodels.data import DataProfile
    from llmops.mlmodels.spec import ValidationSpec

__all__ = ["Columns", "check_frame", "validate_frame"]

MAX_SHOWN = 3


def _show(values: list[Any]) -> str:
    shown = ", ".join(repr(v) if isinstance(v, str) else f"{v:g}" for v in values[:MAX_SHOWN])
    return shown + (f" (+{len(values) - MAX_SHOWN} more)" if len(values) > MAX_SHOWN else "")


@dataclass(frozen=True)
class Columns:
    """The columns a frame must have: features by kind, the target (None for inputs only)."""

    numeric: list[str]
    categorical: list[str]
    target: str | None = None
    task: str = "classification"


def validate_frame(
    frame: pd.DataFrame,
    columns: Columns,
    rules: ValidationSpec,
    *,
    reference: DataProfile | None = None,
    compare_stats: bool = True,
) -> tuple[pd.DataFrame, list[str]]:
    """Check ``frame``; return it with numeric columns coerced, and every problem found.

    ``columns.target=None`` checks inputs only (a batch to score). With a ``reference`` profile
    (the champion's), categories must be known and means may not move more than
    ``rules.max_mean_shift`` reference standard deviations (unless ``compare_stats`` is off).
    """
    import pandas as pd

    numeric, categorical, target, task = (
        columns.numeric,
        columns.categorical,
        columns.target,
        columns.task,
    )

    problems: list[str] = []
    frame = frame.copy()
    wanted = [*numeric, *categorical, *([target] if target else [])]
    missing = [c for c in wanted if c not in frame.columns]
    for name in missing:
        problems.append(f"missing column '{name}'")
    rows = len(frame)
    if rows == 0:
        problems.append("no rows")
        return frame, problems
    for name in [c for c in wanted if c not in missing]:
        series = frame[name]
        nulls = int(series.isna().sum())
        if nulls == rows:
            problems.append(f"column '{name}' is entirely null ({rows} rows)")
            continue
        if nulls / rows > rules.max_missing:
            problems.append(
                f"column '{name}' has {nulls / rows:.0%} missing values "
                f"(limit {rules.max_missing:.0%})"
            )
        is_numeric = name in numeric or (name == target and task == "regression")
        if is_numeric:
            if series.dtype.kind not in "iufb":
                coerced = pd.to_numeric(series, errors="coerce")
                bad = series[coerced.isna() & series.notna()]
                if len(bad):
                    rows_at = ", ".join(str(i) for i in bad.index[:MAX_SHOWN])
                    problems.append(
                        f"column '{name}' should be numeric but has {len(bad)} non-numeric "
                        f"value(s): {_show([str(v) for v in bad.unique()])} (row index {rows_at})"
                    )
                    continue
                frame[name] = coerced
            values = frame[name].dropna().astype(float)
            bounds = rules.ranges.get(name)
            if bounds is not None:
                low, high = bounds
                out = values[(values < low) | (values > high)]
                if len(out):
                    problems.append(
                        f"column '{name}' has {len(out)} value(s) outside [{low:g}, {high:g}]: "
                        f"{_show(sorted(set(out.tolist())))}"
                    )
            ref = reference.column(name) if reference else None
            if compare_stats and ref is not None and ref.mean is not None and ref.std:
                shift = abs(float(values.mean()) - ref.mean) / ref.std
                if shift > rules.max_mean_shift:
                    problems.append(
                        f"column '{name}' mean {values.mean():.4g} is {shift:.1f} std away from "
                        f"the champion's {ref.mean:.4g} (limit {rules.max_mean_shift:g})"
                    )
        else:
            seen = series.dropna().astype(str)
            allowed: set[str] | None = None
            if name in rules.categories:
                allowed = {str(v) for v in rules.categories[name]}
            elif compare_stats and reference is not None and name != target:
                ref = reference.column(name)
                allowed = set(ref.categories) if ref is not None and ref.categories else None
            if allowed is not None:
                unknown = sorted(set(seen) - allowed)
                if unknown:
                    problems.append(f"column '{name}' has unknown categories: {_show(unknown)}")
    if target and target not in missing and task == "classification":
        classes = sorted(str(v) for v in frame[target].dropna().unique())
        if len(classes) == 1:
            problems.append(
                f"target '{target}' has one class ({classes[0]!r}); a classifier needs at least two"
            )
    return frame, problems


def check_frame(
    frame: pd.DataFrame,
    columns: Columns,
    rules: ValidationSpec,
    *,
    source: str,
    reference: DataProfile | None = None,
    compare_stats: bool = True,
) -> pd.DataFrame:
    """Validate like ``validate_frame``; raise CheckFailedError listing every problem."""
    frame, problems = validate_frame(
        frame, columns, rules, reference=reference, compare_stats=compare_stats
    )
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CheckFailedError(
            f"data validation failed for {source}: {problems[0]}{more}",
            problems=problems if len(problems) > 1 else [],
            hint="fix the data (or the spec's validation rules) and run again",
        )
    return frame
