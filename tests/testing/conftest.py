"""Fixtures for the scripted-server tests: one server per test, started on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmops.testing import ScriptedLLMServer


@pytest.fixture
def srv() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as server:
        yield server
