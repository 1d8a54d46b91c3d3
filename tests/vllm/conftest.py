"""A real vLLM CPU server (tiny random Llama) shared by the `vllm`-marked tests of a session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llmops.errors import StateError
from llmops.vllm.launcher import VllmServer


@pytest.fixture(scope="session")
def vllm_python() -> Path:
    from llmops.testing.vllm import find_vllm_python

    try:
        return find_vllm_python()
    except StateError as exc:
        problem = f"{exc}\nhint: {exc.hint}"
    # Fail, never skip: CI must build the venv (scripts/setup_vllm_cpu.sh) before testing.
    pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from llmops.testing.vllm import make_tiny_llama

    return make_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture(scope="session")
def vllm_server(
    vllm_python: Path, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VllmServer]:
    from llmops.testing.vllm import start_tiny_vllm

    server = start_tiny_vllm(tmp_path_factory.mktemp("vllm"), model_dir=tiny_model)
    try:
        yield server
    finally:
        server.stop()
