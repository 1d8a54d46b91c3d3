"""The guard registry: short names -> factories, built-ins registered like plugins.

Built-ins are referenced by ``module:attribute`` strings and imported on first use, so loading a
gateway config (which validates guard names) imports no heavy library.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from llmops.errors import ConfigError
from llmops.files import did_you_mean

if TYPE_CHECKING:
    from llmops.guards.base import Guard

__all__ = ["STAGES", "GuardInfo", "Stage", "available_guards", "get_guard_info", "register_guard"]

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

_REGISTRY: dict[str, GuardInfo] = {}


def register_guard(info: GuardInfo) -> None:
    """Register a guard under ``info.name`` (a later registration replaces an earlier one)."""
    _REGISTRY[info.name] = info


def available_guards() -> list[str]:
    """Return every registered guard name, built-ins included."""
    return sorted(set(_BUILTINS) | set(_REGISTRY))


def get_guard_info(name: str) -> GuardInfo:
    """Return the registered guard ``name``; ConfigError with a did-you-mean otherwise."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    target = _BUILTINS.get(name)
    if target is None:
        guess = did_you_mean(name, available_guards())
        raise ConfigError(
            f"unknown guard '{name}'" + (f" (did you mean '{guess}'?)" if guess else ""),
            hint=f"available guards: {', '.join(available_guards())}",
        )
    module_name, attr = target.split(":")
    info: Any = getattr(importlib.import_module(module_name), attr)
    _REGISTRY[name] = info
    return info  # type: ignore[no-any-return]
