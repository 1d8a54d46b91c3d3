"""Named failpoints: places in production code where a test can make the process fail.

Production code marks a point with ``failpoint("index.before_switch")``; it does nothing unless
that name is enabled, either for a whole process through the environment (so a subprocess under
test inherits it)::

    LLMOPS_FAILPOINTS=index.mid_embed            # SIGKILL this process there (the default)
    LLMOPS_FAILPOINTS=index.after_copy=raise,x.y  # raise FailpointError there; kill at x.y

or inside a test with ``with enabled("index.after_copy", action="raise"): ...``. The actions are
``kill`` (SIGKILL, what a power cut or ``kill -9`` does: no ``finally``, no ``atexit``) and
``raise`` (a ``FailpointError``, which is deliberately not an ``LLMOpsError`` so no handler
mistakes it for a user error).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Literal

__all__ = ["ENV", "Action", "FailpointError", "active", "enabled", "failpoint"]

ENV = "LLMOPS_FAILPOINTS"
Action = Literal["kill", "raise"]
_ACTIONS: tuple[Action, ...] = ("kill", "raise")

# Enabled by ``enabled()``; read by every thread (the index writer hits points off the main one).
_ENABLED: dict[str, Action] = {}
_LOCK = threading.Lock()


class FailpointError(RuntimeError):
    """Raised at an enabled failpoint whose action is ``raise``."""


def _parse(text: str) -> dict[str, Action]:
    out: dict[str, Action] = {}
    for item in text.split(","):
        name, _, action = item.strip().partition("=")
        if not name:
            continue
        action = action.strip() or "kill"
        if action not in _ACTIONS:
            raise ValueError(
                f"{ENV}: unknown action '{action}' for failpoint '{name}' (kill, raise)"
            )
        out[name.strip()] = action
    return out


def active() -> dict[str, Action]:
    """Return the enabled failpoints and their actions (environment, then ``enabled()``)."""
    found = _parse(os.environ.get(ENV, ""))
    with _LOCK:
        found.update(_ENABLED)
    return found


def failpoint(name: str) -> None:
    """Fail here if ``name`` is enabled; otherwise do nothing."""
    if not _ENABLED and not os.environ.get(ENV):  # the common case: one dict and one env lookup
        return
    action = active().get(name)
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "raise":
        raise FailpointError(f"failpoint '{name}' hit")


@contextlib.contextmanager
def enabled(*names: str, action: Action = "raise") -> Iterator[None]:
    """Enable ``names`` in this process for the duration of the block."""
    if action not in _ACTIONS:
        raise ValueError(f"unknown failpoint action '{action}' (kill, raise)")
    with _LOCK:
        before = dict(_ENABLED)
        _ENABLED.update(dict.fromkeys(names, action))
    try:
        yield
    finally:
        with _LOCK:
            _ENABLED.clear()
            _ENABLED.update(before)
