"""Token buckets per API key, on requests and on tokens; admission at the front door.

One replica keeps its buckets in this process. Replicas that share a ``SharedState``
(``shared_state`` in gateway.yaml) ask it instead, once per request: it also answers whether
the key was revoked. When it cannot answer, ``when_unavailable`` decides: ``open`` falls back
to these in-process buckets (each replica then allows the full rate alone) and the
revocations this replica last mirrored; ``closed`` refuses with 503.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from llmops.gateway.config import KeyRateLimit
from llmops.gateway.responses import ApiError
from llmops.gateway.shared_state import REVOKED, SharedState, SharedStateDownError

if TYPE_CHECKING:
    from llmops.gateway.auth import ApiKey

__all__ = ["RateLimiter", "TokenBucket"]


@dataclass
class TokenBucket:
    """A bucket refilled at ``rate`` per second up to ``capacity``; it may go negative on debit."""

    rate: float
    capacity: float
    level: float = -1.0
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.level < 0:
            self.level = self.capacity

    def _refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def try_take(self, amount: float = 1.0, now: float | None = None) -> float:
        """Take ``amount`` if available and return 0; else return seconds until it would be."""
        self._refill(time.monotonic() if now is None else now)
        if self.level >= amount:
            self.level -= amount
            return 0.0
        return (amount - self.level) / self.rate

    def wait_time(self, now: float | None = None) -> float:
        """Return seconds until the bucket is positive again (0 when it is)."""
        self._refill(time.monotonic() if now is None else now)
        return 0.0 if self.level > 0 else (1e-9 - self.level) / self.rate

    def debit(self, amount: float, now: float | None = None) -> None:
        """Charge ``amount`` after the fact (tokens are known only after the answer)."""
        self._refill(time.monotonic() if now is None else now)
        self.level -= amount


class RateLimiter:
    """Request and token buckets per key id; ``admit`` before, ``charge_tokens`` after."""

    def __init__(
        self,
        shared: SharedState | None = None,
        when_unavailable: Literal["open", "closed"] = "open",
        retry_after: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.shared = shared
        self.when_unavailable = when_unavailable
        self.retry_after = retry_after
        self.clock = clock  # tests inject one
        self._requests: dict[str, TokenBucket] = {}
        self._tokens: dict[str, TokenBucket] = {}
        # Tokens are charged from the trace writer thread, checks run on the event loop.
        self._lock = threading.Lock()

    async def admit(self, key: ApiKey, *, limited: bool) -> None:
        """Raise the 401 (revoked), 429 or 503 ApiError that refuses ``key``, else return.

        ``limited``: the path shares the per-key buckets (``/v1/``); other paths only check
        that a shared revocation does not name the key.
        """
        if self.shared is None:
            if limited:
                self.enforce(key.id, key.rate_limit)
            return
        limit = key.rate_limit if limited and _limits(key.rate_limit) else None
        if limit is None and key.sha256 is None:
            return  # the anonymous caller with no limit: nothing to ask
        try:
            wait = await self.shared.admit(key, limit)
        except SharedStateDownError as exc:
            if self.when_unavailable == "closed":
                seconds = max(1, int(self.retry_after + 0.999))
                raise ApiError(
                    503,
                    f"the gateway's shared state is unavailable ({exc}); retry in {seconds} s",
                    code="shared_state_unavailable",
                    headers={"retry-after": str(seconds)},
                ) from None
            if limited:
                self.enforce(key.id, key.rate_limit)
            return
        if wait == REVOKED:
            raise ApiError(401, f"API key '{key.id}' has been revoked", code="invalid_api_key")
        if wait > 0:
            raise _limited(key.id, wait)

    def _bucket(
        self, store: dict[str, TokenBucket], key: str, per_minute: float, burst: float | None
    ) -> TokenBucket:
        bucket = store.get(key)
        if bucket is None:
            bucket = TokenBucket(
                rate=per_minute / 60.0, capacity=burst or per_minute, stamp=self.clock()
            )
            store[key] = bucket
        return bucket

    def enforce(self, key: str, limit: KeyRateLimit) -> None:
        """Raise a 429 ApiError (with Retry-After) when ``key`` is over ``limit``."""
        wait = self.check(key, limit)
        if wait > 0:
            raise _limited(key, wait)

    def check(self, key: str, limit: KeyRateLimit) -> float:
        """Return 0 when the request may go ahead, else the Retry-After in seconds."""
        if not _limits(limit):
            return 0.0
        with self._lock:
            return self._check(key, limit)

    def _check(self, key: str, limit: KeyRateLimit) -> float:
        if limit.tokens_per_minute:
            tokens = self._bucket(self._tokens, key, limit.tokens_per_minute, None)
            wait = tokens.wait_time(self.clock())
            if wait > 0:
                return wait
        if limit.requests_per_minute:
            requests = self._bucket(self._requests, key, limit.requests_per_minute, limit.burst)
            return requests.try_take(1.0, self.clock())
        return 0.0

    def charge_tokens(self, key: str, limit: KeyRateLimit, tokens: int) -> None:
        """Debit the tokens a request used (here, and in the shared state when there is one)."""
        if limit.tokens_per_minute and tokens:
            with self._lock:
                self._bucket(self._tokens, key, limit.tokens_per_minute, None).debit(
                    tokens, self.clock()
                )
            if self.shared is not None:
                self.shared.charge_tokens(key, limit, tokens)


def _limits(limit: KeyRateLimit) -> bool:
    return limit.tokens_per_minute is not None or limit.requests_per_minute is not None


def _limited(key_id: str, wait: float) -> ApiError:
    seconds = max(1, int(wait + 0.999))
    return ApiError(
        429,
        f"rate limit exceeded for key '{key_id}'; retry in {seconds} s",
        code="rate_limit_exceeded",
        headers={"retry-after": str(seconds)},
    )
