"""One registry for every extension point: short names -> entries, built-ins loaded like plugins.

Every kind of plugin (providers, loaders, rerankers, embedding backends, eval metrics, ML metrics,
estimators, eval targets, guards) is a ``Registry``. An entry is registered three ways, all
looked up the same way:

- directly: ``registry.register("name", obj)``;
- lazily, by a ``"module:attr"`` string imported on first lookup (built-ins use this, so loading a
  config that validates names imports no heavy library);
- from an installed package's entry points, when the registry has a ``group``
  (``llmops.guards``, ``llmops.metrics``, ``llmops.providers``, ``llmops.loaders``). Entry points
  are listed once, on the first lookup, and each is loaded only when its name is asked for: a
  broken plugin fails with its name and distribution, and never breaks lookups of other names.
  An entry point never replaces a name that is already registered (built-ins win).

An unknown name raises ``ConfigError``: ``unknown <kind> 'x' (did you mean 'y'?)`` with the
known names in the hint. Nothing here runs at import time.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from llmops.errors import ConfigError
from llmops.suggest import suggestion

__all__ = ["PLUGIN_GROUPS", "Registry", "import_target", "unknown_name_error"]

T = TypeVar("T")

#: The entry-point groups a third-party package can register in.
PLUGIN_GROUPS = ("llmops.guards", "llmops.metrics", "llmops.providers", "llmops.loaders")


def unknown_name_error(
    kind: str, name: str, choices: Iterable[str], *, key: str | None = None
) -> ConfigError:
    """Return the one error every registry raises for an unknown name (with a did-you-mean)."""
    known = sorted(set(choices))
    return ConfigError(
        f"unknown {kind} '{name}'" + suggestion(name, known),
        key=key,
        hint=f"known {kind}s: {', '.join(known) if known else 'none'}",
    )


def import_target(target: str) -> Any:
    """Import ``"package.module:attr"`` (or ``"package.module.attr"``) and return the attribute."""
    module_name, sep, attr = target.partition(":")
    if not sep:
        module_name, _, attr = target.rpartition(".")
    if not module_name or not attr:
        raise ImportError(f"'{target}' is not 'module:attribute'")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class _Lazy:
    """An entry not imported yet: a ``module:attr`` target, maybe from a plugin distribution."""

    target: str
    plugin: str | None = None  # "<distribution> (entry point group 'llmops.x')"


class Registry(Generic[T]):
    """Names -> entries of one kind, with lazy built-ins and entry-point plugins."""

    def __init__(
        self,
        kind: str,
        *,
        group: str | None = None,
        builtins: Mapping[str, str] | None = None,
        key: str | None = None,
        normalize: Callable[[str], str] | None = None,
    ) -> None:
        self.kind = kind
        self.group = group
        self.key = key
        self._normalize = normalize or (lambda name: name)
        self._entries: dict[str, T | _Lazy] = {
            self._normalize(n): _Lazy(t) for n, t in (builtins or {}).items()
        }
        self._discovered = group is None
        self._lock = threading.RLock()

    # -- registering ---------------------------------------------------------------------------

    def register(self, name: str, entry: T | str) -> None:
        """Register ``entry`` under ``name``; a string is a lazy ``module:attr`` target.

        A later registration replaces an earlier one (built-ins included).
        """
        with self._lock:
            self._entries[self._normalize(name)] = _Lazy(entry) if isinstance(entry, str) else entry

    def unregister(self, name: str) -> None:
        """Forget ``name`` (no error when it is not registered)."""
        with self._lock:
            self._entries.pop(self._normalize(name), None)

    # -- looking up ----------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Return every registered name, built-ins and discovered plugins included, sorted."""
        self._discover()
        with self._lock:
            return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        self._discover()
        with self._lock:
            return self._normalize(name) in self._entries

    def get(self, name: str) -> T:
        """Return the entry for ``name``; ``ConfigError`` with a did-you-mean when unknown."""
        self._discover()
        normalized = self._normalize(name)
        with self._lock:
            entry = self._entries.get(normalized)
            if entry is None:
                raise unknown_name_error(self.kind, name, self._entries, key=self.key)
        if not isinstance(entry, _Lazy):
            return entry
        # Imported outside the lock: an import that looks something up in another thread's
        # registry must not wait on this one (two threads may import the same module; harmless).
        loaded: T = self._load(normalized, entry)
        with self._lock:
            if self._entries.get(normalized) == entry:  # not re-registered meanwhile
                self._entries[normalized] = loaded
        return loaded

    def items(self) -> list[tuple[str, T]]:
        """Return ``(name, entry)`` for every name, loading lazy entries."""
        return [(name, self.get(name)) for name in self.names()]

    # -- internals -----------------------------------------------------------------------------

    def _load(self, name: str, entry: _Lazy) -> T:
        try:
            obj: T = import_target(entry.target)
        except Exception as exc:
            if entry.plugin is None:
                raise
            raise ConfigError(
                f"the {self.kind} plugin '{name}' from {entry.plugin} failed to load: "
                f"{type(exc).__name__}: {exc}",
                key=self.key,
                hint=f"fix or uninstall that package (entry point '{name} = {entry.target}')",
            ) from exc
        return obj

    def _discover(self) -> None:
        """List the group's entry points once; each loads only when its name is looked up."""
        if self._discovered:
            return
        with self._lock:
            if self._discovered:
                return
            self._discovered = True
            from importlib.metadata import entry_points

            for ep in entry_points(group=self.group or ""):
                name = self._normalize(ep.name)
                if name in self._entries:
                    continue  # built-ins and registrations in code win over entry points
                dist = getattr(ep.dist, "name", None) or "an installed package"
                where = f"package '{dist}' (entry point group '{self.group}')"
                self._entries[name] = _Lazy(ep.value, plugin=where)
