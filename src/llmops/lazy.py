"""Lazy public names for a package: ``__getattr__`` that imports a name's module on first use.

A package lists ``{name: module}`` and sets ``__getattr__ = lazy_names(__name__, table,
globals())``: importing the package then costs nothing, and ``from package import Name`` loads
only ``Name``'s module (PEP 562). Type checkers see the names through ``TYPE_CHECKING`` imports.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    package: str, table: Mapping[str, str], namespace: MutableMapping[str, Any]
) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` loading ``table[name]`` and caching it in ``namespace``."""

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module '{package}' has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
