"""The CLI reference page is generated from the live command tree and must be current."""

from __future__ import annotations

from pathlib import Path

from llmops.cli import reference


def test_cli_reference_is_current(repo_root: Path) -> None:
    text = (repo_root / "docs" / "cli-reference.md").read_text(encoding="utf-8")
    assert reference.START in text and reference.END in text
    block = text.split(reference.START, 1)[1].split(reference.END, 1)[0]
    expected = reference.render().split(reference.START, 1)[1].split(reference.END, 1)[0]
    assert block == expected, (
        "CLI reference is stale: run `python -m llmops.cli.reference --write docs/cli-reference.md`"
    )


def test_readme_names_the_two_commands(repo_root: Path) -> None:
    text = (repo_root / "README.md").read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text
