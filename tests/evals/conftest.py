"""Eval fixtures: a scripted LLM on loopback and throwaway projects with suites and golden sets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from evals_helpers import Project, golden_records, http_suite

from llmops.testing import ScriptedLLMServer


@pytest.fixture(scope="session")
def llm_server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer(models=("test-model", "other-model")) as srv:
        yield srv


@pytest.fixture
def llm(llm_server: ScriptedLLMServer) -> Iterator[ScriptedLLMServer]:
    llm_server.reset()
    yield llm_server
    llm_server.reset()


@pytest.fixture
def judge(llm: ScriptedLLMServer, monkeypatch: pytest.MonkeyPatch) -> ScriptedLLMServer:
    """The scripted LLM as the eval judge (LLMOPS_JUDGE_BASE_URL and LLMOPS_JUDGE_MODEL set)."""
    monkeypatch.setenv("LLMOPS_JUDGE_BASE_URL", llm.base_url)
    monkeypatch.setenv("LLMOPS_JUDGE_MODEL", "judge-model")
    return llm


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = Project(tmp_path / "proj")
    proj.write("llmops.yaml", "project: evals-test\n")
    proj.golden(golden_records())
    return proj


@pytest.fixture
def make_suite(project: Project, llm: ScriptedLLMServer) -> Callable[..., Path]:
    def make(name: str = "facts", **over: Any) -> Path:
        return project.suite(http_suite(llm.base_url, **over), name=name)

    return make
