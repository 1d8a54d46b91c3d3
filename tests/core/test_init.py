"""`llmops init` scaffolds a project and never overwrites silently."""

from __future__ import annotations

from pathlib import Path


def test_init_creates_layout(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "proj"
    result = cli("init", str(target))
    assert result.exit_code == 0, result.stderr
    for folder in ("prompts", "rag_pipelines", "evals", "golden_sets", "serving", "models"):
        assert (target / folder).is_dir()
    assert ".llmops/" in (target / ".gitignore").read_text()
    assert (target / "llmops.yaml").is_file()


def test_init_refuses_to_overwrite(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "proj"
    target.mkdir()
    (target / "llmops.yaml").write_text("project: mine\n")
    result = cli("init", str(target))
    assert result.exit_code == 2
    assert "already exists" in result.stderr
    assert (target / "llmops.yaml").read_text() == "project: mine\n"
    assert cli("init", str(target), "--force").exit_code == 0
    assert (target / "llmops.yaml").read_text() != "project: mine\n"
