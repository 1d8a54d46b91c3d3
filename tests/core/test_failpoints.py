"""Named failpoints: off by default, enabled by the environment or a context manager."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from llmops.failpoints import ENV, FailpointError, active, enabled, failpoint

CHILD = "from llmops.failpoints import failpoint\nfailpoint('demo.step')\nprint('survived')\n"


def test_off_unless_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    failpoint("index.before_switch")  # nothing happens
    assert active() == {}


def test_context_manager_raises_there_and_only_inside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    with enabled("a.b"):
        failpoint("other")  # another name is not affected
        with pytest.raises(FailpointError, match="failpoint 'a.b' hit"):
            failpoint("a.b")
        with enabled("c.d"):
            assert active() == {"a.b": "raise", "c.d": "raise"}
        assert active() == {"a.b": "raise"}  # the inner block restored the outer state
    failpoint("a.b")
    assert active() == {}


def test_enabled_points_fire_on_other_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    seen: list[BaseException] = []

    def worker() -> None:
        try:
            failpoint("writer.step")
        except FailpointError as exc:
            seen.append(exc)

    with enabled("writer.step"):
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
    assert len(seen) == 1


def test_environment_names_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "a.b=raise, c.d ,e.f=kill")
    assert active() == {"a.b": "raise", "c.d": "kill", "e.f": "kill"}
    with pytest.raises(FailpointError):
        failpoint("a.b")
    monkeypatch.setenv(ENV, "a.b=explode")
    with pytest.raises(ValueError, match="unknown action 'explode' for failpoint 'a.b'"):
        failpoint("a.b")
    with pytest.raises(ValueError, match="unknown failpoint action"), enabled("x", action="boom"):  # type: ignore[arg-type]
        pass


@pytest.mark.parametrize("points", [None, "demo.step", "demo.other"])
def test_kill_is_a_real_sigkill_in_a_subprocess(points: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if points:
        env[ENV] = points
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=60
    )
    if points == "demo.step":
        assert proc.returncode == -signal.SIGKILL and proc.stdout == ""
    else:
        assert proc.returncode == 0 and proc.stdout == "survived\n"
