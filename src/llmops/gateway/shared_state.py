"""State that gateway replicas share: rate-limit buckets, key revocations, breaker trips.

``shared_state.backend`` in gateway.yaml picks where it lives. ``memory`` (the default) needs
nothing here: the in-process buckets of ``ratelimit.py`` and the revoked-keys file serve one
replica. Other backends implement ``SharedState`` and register by name like every other
extension point (``redis`` is built in, ``shared_redis.py``); ``RateLimiter.admit`` calls
``admit`` once per request and decides what an unreachable backend means
(``when_unavailable``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from llmops.errors import ConfigError
from llmops.suggest import did_you_mean

if TYPE_CHECKING:
    from llmops.gateway.auth import ApiKey
    from llmops.gateway.config import KeyRateLimit, SharedStateConfig
    from llmops.gateway.revocations import Revocations
    from llmops.gateway.upstream import Pool

__all__ = [
    "REVOKED",
    "SHARED_BACKENDS",
    "SharedState",
    "SharedStateDownError",
    "open_shared_state",
]

#: What ``SharedState.admit`` returns for a revoked key.
REVOKED = -1.0


class SharedStateDownError(Exception):
    """The shared store did not answer in time (the caller applies ``when_unavailable``)."""


class SharedState(Protocol):
    """One server that every replica of a gateway uses for what they must agree on."""

    backend: str

    async def start(self) -> None:
        """Connect and begin mirroring revocations and breaker trips."""

    async def close(self) -> None:
        """Stop mirroring and close connections."""

    def watch(self, pools: Iterable[Pool]) -> None:
        """Share the breakers of these pools' replicas (called again after a reload)."""

    async def admit(self, key: ApiKey, limit: KeyRateLimit | None) -> float:
        """Return 0 to admit, the Retry-After seconds, or ``REVOKED``; raise when down."""

    def charge_tokens(self, key_id: str, limit: KeyRateLimit, tokens: int) -> None:
        """Debit tokens after an answer; any thread, never blocks (sent in the background)."""

    async def revoke(self, digest: str) -> None:
        """Revoke a key digest on every replica; raise SharedStateDownError when down."""

    async def restore(self, digest: str) -> None:
        """Undo a revocation on every replica; raise SharedStateDownError when down."""

    def status(self) -> dict[str, Any]:
        """Return what ``GET /admin/shared`` shows (backend, reachable, counts)."""


#: backend name -> "module:attr" of a factory ``(config, revocations, clock) -> SharedState``.
SHARED_BACKENDS: dict[str, str] = {"redis": "llmops.gateway.shared_redis:RedisState"}


def open_shared_state(
    config: SharedStateConfig,
    revocations: Revocations,
    clock: Callable[[], float] | None = None,
) -> SharedState | None:
    """Return the configured shared state (not yet started), or None for ``memory``."""
    if config.backend == "memory":
        return None
    target = SHARED_BACKENDS.get(config.backend)
    if target is None:
        hint = did_you_mean(config.backend, sorted(SHARED_BACKENDS))
        raise ConfigError(
            f"unknown shared_state backend '{config.backend}'",
            key="shared_state.backend",
            hint=hint or f"use memory or one of: {', '.join(sorted(SHARED_BACKENDS))}",
        )
    module, _, attr = target.partition(":")
    factory = getattr(importlib.import_module(module), attr)
    state: SharedState = factory(config, revocations, clock)
    return state
