"""Token buckets per API key, on requests and on tokens."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from llmops.gateway.config import KeyRateLimit
from llmops.gateway.responses import ApiError

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
    """Request and token buckets per key id; ``check`` before, ``charge_tokens`` after."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock  # tests inject one
        self._requests: dict[str, TokenBucket] = {}
        self._tokens: dict[str, TokenBucket] = {}
        # Tokens are charged from the trace writer thread, checks run on the event loop.
        self._lock = threading.Lock()

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
            seconds = max(1, int(wait + 0.999))
            raise ApiError(
                429,
                f"rate limit exceeded for key '{key}'; retry in {seconds} s",
                code="rate_limit_exceeded",
                headers={"retry-after": str(seconds)},
            )

    def check(self, key: str, limit: KeyRateLimit) -> float:
        """Return 0 when the request may go ahead, else the Retry-After in seconds."""
        if limit.tokens_per_minute is None and limit.requests_per_minute is None:
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
        """Debit the tokens a request used."""
        if limit.tokens_per_minute and tokens:
            with self._lock:
                self._bucket(self._tokens, key, limit.tokens_per_minute, None).debit(
                    tokens, self.clock()
                )
