"""The guard registry: short names -> ``GuardInfo``, built-ins registered like plugins.

Built-ins are referenced by ``module:attribute`` strings and imported on first use, so loading a
gateway config (which validates guard names) imports no heavy library. Third-party guards come
from the ``llmops.guards`` entry-point group (see docs/plugins.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from llmops.registry import Registry

if TYPE_CHECKING:
    from llmops.guards.base import Guard

__all__ = [
    "GUARDS",
    "STAGES",
    "GuardInfo",
    "Stage",
    "available_guards",
    "get_guard_info",
    "register_guard",
]

Stage = Literal["input", "contexts", "output"]
STAGES: tuple[Stage, ...] = ("input", "contexts", "output")


@dataclass(frozen=True)
class GuardInfo:
    """What the config layer needs to know about a guard before building it."""

    name: str
    stages: tuple[Stage, ...]
    options_model: type[BaseModel]
    factory: Callable[..., Guard]
    summary: str = ""
    #: Whether the guard can repair text (``on_fail: fix``); on contexts, fix drops the context.
    fixable: bool = True
    #: Run once per request (on the longest message) rather than once per message.
    request_level: bool = False
    #: ``window``: checked sentence by sentence in streams; ``final``: only on the whole answer.
    stream: Literal["window", "final"] = "window"
    tags: tuple[str, ...] = field(default_factory=tuple)


_BUILTINS: dict[str, str] = {
    "prompt_injection": "llmops.guards.injection:INFO",
    "pii": "llmops.guards.pii:INFO",
    "limits": "llmops.guards.limits:INFO",
    "topic": "llmops.guards.topic:INFO",
    "system_prompt_leak": "llmops.guards.leak:INFO",
    "groundedness": "llmops.guards.grounding:INFO",
    "json_schema": "llmops.guards.structured:INFO",
}

#: Every guard: built-ins, ``register_guard`` calls and the ``llmops.guards`` entry points
#: (each names a ``GuardInfo``).
GUARDS: Registry[GuardInfo] = Registry("guard", group="llmops.guards", builtins=_BUILTINS)


def register_guard(info: GuardInfo) -> None:
    """Register a guard under ``info.name`` (a later registration replaces an earlier one)."""
    GUARDS.register(info.name, info)


def available_guards() -> list[str]:
    """Return every registered guard name, built-ins and plugins included."""
    return GUARDS.names()


def get_guard_info(name: str) -> GuardInfo:
    """Return the registered guard ``name``; ConfigError with a did-you-mean otherwise."""
    return GUARDS.get(name)
