"""The training spec: the shipped example, the schema file, and errors with file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops.errors import ConfigError
from llmops.mlmodels.schema import SCHEMA_PATH, schema_text
from llmops.mlmodels.spec import load_spec

REPO = Path(__file__).resolve().parents[2]


def test_shipped_example_spec_loads() -> None:
    spec = load_spec(REPO / "models" / "breast-cancer.yaml")
    assert spec.name == "breast-cancer"
    assert len(spec.features.numeric) == 30
    assert spec.search is not None and spec.gate_metric == "accuracy"
    assert spec.resolve(spec.dataset.path or "").is_file()


def test_shipped_schema_is_up_to_date() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "regenerate with: python -m llmops.mlmodels.schema"
    )


def test_example_validates_against_the_json_schema() -> None:
    import jsonschema
    import yaml

    doc = yaml.safe_load((REPO / "models" / "breast-cancer.yaml").read_text(encoding="utf-8"))
    jsonschema.validate(doc, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("mutation", "message", "line"),
    [
        (("RandomForestClassifier", "RandomForestClasifier"),
         "unknown estimator 'RandomForestClasifier' (did you mean 'RandomForestClassifier'?)", 23),
        (("metrics: [accuracy, f1, roc_auc]", "metrics: [accuracy, f1, roc_aux]"),
         "unknown classification metric 'roc_aux' (did you mean 'roc_auc'?)", 31),
        (("split: {", "splitt: {"), "unknown key 'splitt' (did you mean 'split'?)", 32),
        (("test_size: 0.25", "test_size: 2"), "'split.test_size': Input should be less than 1", 32),
    ],
)  # fmt: skip
def test_bad_spec_names_file_line_and_fix(
    tmp_path: Path, mutation: tuple[str, str], message: str, line: int
) -> None:
    text = (REPO / "models" / "breast-cancer.yaml").read_text(encoding="utf-8")
    assert mutation[0] in text
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(mutation[0], mutation[1], 1), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    assert info.value.message == message
    assert info.value.location == f"{path}:{line}"


def test_unknown_estimator_cli_exit_code(cli, project: Path, write_spec) -> None:  # type: ignore[no-untyped-def]
    text = (project / "models" / "bc.yaml").read_text(encoding="utf-8")
    path = write_spec("typo", text.replace("LogisticRegression", "LogisticRegresion"))
    line = path.read_text(encoding="utf-8").splitlines().index("  name: LogisticRegresion") + 1
    result = cli("model", "train", str(path), cwd=project)
    assert result.exit_code == 2
    first = result.stderr.strip().splitlines()[0]
    assert first == (
        "error: unknown estimator 'LogisticRegresion' (did you mean 'LogisticRegression'?) "
        f"({path}:{line})"
    )


def test_unknown_model_name_did_you_mean(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("model", "show", "breast-cancr", cwd=project)
    assert result.exit_code == 2
    assert "no model spec named 'breast-cancr'" in result.stderr
    assert "did you mean 'breast-cancer'?" in result.stderr


def test_scaffolded_project_spec_validates(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "new"
    assert cli("init", str(target)).exit_code == 0
    assert (target / "models" / "example.yaml").is_file()
    result = cli("model", "validate", "example", cwd=target)
    assert result.exit_code == 0, result.stderr
    assert "ok: 178 rows match the spec" in result.stdout


def test_a_broken_spec_found_by_name_reports_its_own_error(cli, project: Path, write_spec) -> None:  # type: ignore[no-untyped-def]
    path = write_spec(
        "broken", "name: broken\ndataset: {path: x.csv}\ntarget: y\nestimator: {nam: X}\n"
    )
    result = cli("model", "train", "broken", cwd=project)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: missing required key 'estimator.name' ({path}:4)")
