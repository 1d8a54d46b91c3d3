"""Lazy package members: a package's ``__getattr__`` that imports a member's module on first use.

So a reader of one part (``llmops monitor report`` reads rollups) does not pay for the rest of
the package (pydantic event models, the writer thread, the scorer) at import time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_members"]


def lazy_members(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """Return a ``__getattr__`` serving ``name`` from ``package.<where[name]>``."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
