"""Fixtures for the classic-ML tests: a project with the shipped example, a real MLflow store."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from ml_helpers import EXAMPLE, FAST_SPEC  # type: ignore[import-not-found]

from llmops.config import Settings, load_settings


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return an empty, migrated MLflow sqlite store (creating one costs ~2 s; copying, ~0)."""
    import mlflow

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def project(tmp_path: Path, _isolated_state: Path, mlflow_template: Path) -> Path:
    """Return a project folder holding the shipped example and the fast spec, with a fresh store."""
    root = tmp_path / "proj"
    shutil.copytree(EXAMPLE, root / "models")
    (root / "models" / "bc.yaml").write_text(FAST_SPEC, encoding="utf-8")
    (root / "llmops.yaml").write_text("project: ml-test\n", encoding="utf-8")
    shutil.copy(mlflow_template, _isolated_state / "mlflow.db")
    return root


@pytest.fixture
def settings(project: Path) -> Settings:
    """Return the settings of ``project``."""
    return load_settings(project)


@pytest.fixture
def write_spec(project: Path) -> Callable[[str, str], Path]:
    """Write ``models/<name>.yaml`` with the given text; return its path."""

    def write(name: str, text: str) -> Path:
        path = project / "models" / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write
