"""The shared wait helper: returns the first truthy value, fails naming what never happened."""

from __future__ import annotations

import subprocess
import sys
from itertools import count

import pytest

from llmops.testing import wait_for_http, wait_until


def test_wait_until_returns_the_first_truthy_value() -> None:
    calls = count()
    assert wait_until(lambda: [] if next(calls) < 3 else ["row"], timeout=5) == ["row"]
    assert next(calls) == 4  # four checks: it stopped polling once the value came


def test_wait_until_fails_naming_what_never_happened() -> None:
    with pytest.raises(AssertionError, match="the rows landing did not happen within 0.05 s"):
        wait_until(lambda: None, timeout=0.05, what="the rows landing")


def test_wait_for_http_fails_at_once_when_the_server_exited() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait(timeout=30)
    with pytest.raises(AssertionError, match="exited with 3"):
        wait_for_http("http://127.0.0.1:9/health", timeout=60, proc=proc)
