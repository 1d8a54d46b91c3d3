"""The shipped JSON Schema, the scaffold example and the public names of ``llmops.prompts``."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from llmops.prompts.schema import SCHEMA_PATH, schema_text


def test_shipped_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "stale schema: run `python -m llmops.prompts.schema`"
    )


def _prompt_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.yaml"))


def test_shipped_and_scaffold_prompts_validate_against_schema(repo_root: Path) -> None:
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    files = _prompt_files(repo_root / "prompts") + _prompt_files(
        repo_root / "src/llmops/_data/scaffold/prompts"
    )
    assert len(files) >= 10
    for path in files:
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, (path, errors[0].message)


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "x", "template": "t", "temperature": 1},
        {"name": "x", "template": "t", "params": {"temperature": 5}},
        {"name": "x", "template": "t", "variables": {"v": {"type": "text"}}},
        {"name": "Bad Name", "template": "t"},
    ],
    ids=["unknown-key", "param-range", "var-type", "name-pattern"],
)
def test_schema_rejects_what_the_model_rejects(bad: dict[str, object]) -> None:
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(bad))


def test_scaffolded_project_lints_and_renders(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "app"
    assert cli("init", str(target)).exit_code == 0
    result = cli("prompt", "lint", cwd=target)
    assert result.exit_code == 0, result.stderr
    rendered = cli(
        "prompt", "render", "example@draft", "--var", "product=Acme", "--var", "question=Hi?",
        cwd=target,
    )  # fmt: skip
    assert rendered.exit_code == 0, rendered.stderr
    assert "support assistant for Acme. Be friendly" in rendered.stdout
    assert cli("prompt", "release", "example", cwd=target).exit_code == 0
    assert cli("prompt", "label", "example@1", "production", cwd=target).exit_code == 0
    assert cli("prompt", "lint", cwd=target).exit_code == 0
