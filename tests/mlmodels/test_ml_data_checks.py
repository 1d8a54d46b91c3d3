"""Data validation before training: each bad input is one line naming the column, exit 1."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from ml_helpers import FAST_SPEC  # type: ignore[import-not-found]


def _missing_column(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=["mean_radius"])


def _wrong_dtype(df: pd.DataFrame) -> pd.DataFrame:
    df["mean_texture"] = df["mean_texture"].astype(object)
    df.loc[3, "mean_texture"] = "abc"
    df.loc[7, "mean_texture"] = "12,5"
    return df


def _all_null(df: pd.DataFrame) -> pd.DataFrame:
    df["worst_area"] = None
    return df


def _one_class(df: pd.DataFrame) -> pd.DataFrame:
    df["diagnosis"] = "benign"
    return df


def _out_of_range(df: pd.DataFrame) -> pd.DataFrame:
    df.loc[5, "mean_radius"] = 99.5
    return df


def _too_many_nulls(df: pd.DataFrame) -> pd.DataFrame:
    df.loc[: len(df) // 4, "mean_smoothness"] = None
    return df


CASES: list[tuple[str, Callable[[pd.DataFrame], pd.DataFrame], str]] = [
    ("missing-column", _missing_column, "missing column 'mean_radius'"),
    (
        "wrong-dtype",
        _wrong_dtype,
        "column 'mean_texture' should be numeric but has 2 non-numeric value(s): 'abc', '12,5' "
        "(row index 3, 7)",
    ),
    ("all-null", _all_null, "column 'worst_area' is entirely null (400 rows)"),
    (
        "one-class",
        _one_class,
        "target 'diagnosis' has one class ('benign'); a classifier needs at least two",
    ),
    ("range", _out_of_range, "column 'mean_radius' has 1 value(s) outside [0, 60]: 99.5"),
    ("nulls", _too_many_nulls, "column 'mean_smoothness' has 25% missing values (limit 5%)"),
]


@pytest.mark.parametrize(("case", "mutate", "problem"), CASES, ids=[c[0] for c in CASES])
def test_bad_training_data_stops_the_run(
    cli,  # type: ignore[no-untyped-def]
    project: Path,
    write_spec: Callable[[str, str], Path],
    case: str,
    mutate: Callable[[pd.DataFrame], pd.DataFrame],
    problem: str,
) -> None:
    data = project / "models" / "data"
    mutate(pd.read_csv(data / "breast_cancer.csv")).to_csv(data / "bad.csv", index=False)
    spec = write_spec("bad", FAST_SPEC.replace("breast_cancer.csv", "bad.csv"))
    result = cli("model", "train", str(spec), cwd=project)
    assert result.exit_code == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"error: data validation failed for data/bad.csv: {problem}"
    assert lines[1].startswith("hint: fix the data")
    # Nothing was trained: no run is recorded in the experiment.
    assert "run " not in result.stdout


def test_every_problem_is_listed(cli, project: Path, write_spec) -> None:  # type: ignore[no-untyped-def]
    data = project / "models" / "data"
    df = _all_null(_missing_column(pd.read_csv(data / "breast_cancer.csv")))
    df.to_csv(data / "bad.csv", index=False)
    spec = write_spec("bad", FAST_SPEC.replace("breast_cancer.csv", "bad.csv"))
    result = cli("model", "validate", str(spec), cwd=project)
    assert result.exit_code == 1
    assert "missing column 'mean_radius' (+1 more)" in result.stderr
    assert "  - column 'worst_area' is entirely null (400 rows)" in result.stderr


def test_statistics_checked_against_the_champion_profile(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("model", "train", "bc", cwd=project).exit_code == 0
    assert cli("model", "promote", "bc", cwd=project).exit_code == 0
    data = project / "models" / "data"
    df = pd.read_csv(data / "breast_cancer.csv")
    df["mean_texture"] = df["mean_texture"] * 10  # a unit change upstream
    df.to_csv(data / "units.csv", index=False)
    result = cli("model", "validate", "bc", "--data", str(data / "units.csv"), cwd=project)
    assert result.exit_code == 1
    text = " ".join(result.stderr.split())  # the console wraps at its width; the path is long
    assert text.startswith(
        f"error: data validation failed for {data / 'units.csv'}: column 'mean_texture' mean 192.1 "
        "is 40.1 std away from the champion's 19.21 (limit 3)"
    )
    ok = cli("model", "validate", "bc", cwd=project)
    assert ok.exit_code == 0
    assert "ok: 400 rows match the spec and the champion's profile" in ok.stdout
