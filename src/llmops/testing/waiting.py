"""Wait for something another thread or process does: poll a condition up to a deadline.

Tests never sleep a fixed time for a server or a background writer: they poll the condition they
need (``wait_until``) or the server's health URL (``wait_for_http``), and fail with a message
naming what never happened. Time that the code under test measures is injected as a clock
instead (the breaker, the limiter, the alias cache).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["wait_for_http", "wait_until"]

T = TypeVar("T")


def wait_until(check: Callable[[], T], *, timeout: float = 10.0, what: str = "the condition") -> T:
    """Return ``check()``'s first truthy value; raise AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        time.sleep(delay)  # a poll interval, not a wait for the outcome
        delay = min(delay * 2, 0.1)


def wait_for_http(
    url: str, *, timeout: float = 60.0, proc: subprocess.Popen[Any] | None = None
) -> None:
    """Wait until GET ``url`` answers 200; fail early when ``proc`` (the server) has exited."""
    import httpx

    def ready() -> bool:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the server behind {url} exited with {proc.returncode}")
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, timeout=timeout, what=f"{url} answering 200")
