"""Fixtures for the scale tests: real redis-server processes on loopback."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from scale_helpers import RedisServer


@contextmanager
def _running_redis() -> Iterator[RedisServer]:
    with tempfile.TemporaryDirectory(prefix="llmops-redis-") as tmp:
        server = RedisServer(Path(tmp)).start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session (tests isolate themselves with key prefixes)."""
    with _running_redis() as server:
        yield server


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which the test may kill, freeze or restart."""
    with _running_redis() as server:
        yield server


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    """A Redis key prefix of this test's own."""
    return f"t{os.getpid()}-{request.node.name[:40]}:"
