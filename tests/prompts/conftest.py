"""Fixtures for the prompt registry: small throwaway projects and a copy of the shipped prompts."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from prompt_helpers import GREET_DRAFT


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Return an empty project (llmops.yaml + prompts/)."""
    root = tmp_path / "proj"
    (root / "prompts").mkdir(parents=True)
    (root / "llmops.yaml").write_text("project: proj\n")
    return root


@pytest.fixture
def released(project: Path, cli: Callable[..., object]) -> Path:
    """Return a project whose prompt 'greet' has version 1 released and labelled production."""
    (project / "prompts" / "greet.yaml").write_text(GREET_DRAFT)
    result = cli("prompt", "release", "greet", cwd=project)
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    result = cli("prompt", "label", "greet@1", "production", cwd=project)
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    return project


@pytest.fixture
def shipped(tmp_path: Path, repo_root: Path) -> Path:
    """Return a project holding a copy of the repository's shipped prompts."""
    root = tmp_path / "shipped"
    root.mkdir()
    (root / "llmops.yaml").write_text("project: shipped\n")
    shutil.copytree(repo_root / "prompts", root / "prompts")
    return root
