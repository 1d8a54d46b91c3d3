"""The one retry/backoff policy for model calls, on tenacity.

What is retried: connection failures, timeouts, 408, 429 and 5xx (``UpstreamError.is_retryable``).
How long to wait: the upstream's ``Retry-After`` when there is one (``honour_retry_after``),
else full-jitter exponential backoff (``backoff`` x 2^n, capped at ``max_backoff``). When to
give up: after ``attempts`` tries in total, or **at once** when ``Retry-After`` asks for longer
than ``max_retry_after`` (the error keeps the upstream's value, so a gateway passes it on
instead of sleeping). An attempt may raise ``GiveUp(error)`` to end the retries with ``error``.

Two rules keep the policy cheap and its retries from multiplying:

- the first attempt runs outside tenacity (its ``AsyncRetrying`` costs ~50-200 us per call in
  coroutine introspection, measured here; a request that succeeds at once pays a ``try``);
  from the first failure on, tenacity decides every stop, wait and retry, the first failure
  included;
- policies nest without multiplying: a ``run`` inside another ``run`` (same task, e.g. a provider
  called by the eval ``ModelCaller``) makes one attempt and leaves the retrying to the outer one.

Waiting goes through the policy's ``sleep`` (injectable: tests pass a recorder, nothing waits).
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from llmops.errors import UpstreamError

__all__ = ["GiveUp", "RetryPolicy", "parse_retry_after"]

T = TypeVar("T")

#: Called as (error, seconds until the next attempt, attempt number just failed) before a retry.
RetryHook = Callable[[UpstreamError, float, int], None]
Sleep = Callable[[float], Awaitable[None]]

_ACTIVE: contextvars.ContextVar[bool] = contextvars.ContextVar("llmops_retry_active", default=False)


class GiveUp(Exception):  # noqa: N818 - a control signal, not an error of its own
    """Raised by an attempt to stop retrying and fail with ``error``."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Return the seconds a ``Retry-After`` value asks for (delta-seconds or an HTTP date).

    ``now`` (epoch seconds) is the clock for dates; None when absent or unreadable.
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 7231 dates are GMT
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _error_of(state: RetryCallState) -> UpstreamError | None:
    outcome = state.outcome
    if outcome is None or not outcome.failed:
        return None
    exc = outcome.exception()
    return exc if isinstance(exc, UpstreamError) else None


class _RetryAfterTooLong(stop_base):
    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        error = _error_of(retry_state)
        return (
            error is not None and error.retry_after is not None and error.retry_after > self.limit
        )


class _HonourRetryAfter(wait_base):
    def __init__(self, fallback: wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        error = _error_of(retry_state)
        if error is not None and error.retry_after is not None:
            return error.retry_after
        return float(self.fallback(retry_state))


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, UpstreamError) and exc.is_retryable()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry a failed model call (see the module docstring)."""

    attempts: int = 3
    backoff: float = 0.2
    max_backoff: float = 5.0
    honour_retry_after: bool = True
    max_retry_after: float = 20.0
    #: How to wait between attempts (the clock tests inject; asyncio.sleep when None).
    sleep: Sleep | None = field(default=None, compare=False)

    @classmethod
    def never(cls) -> RetryPolicy:
        """Return a policy that makes one attempt."""
        return cls(attempts=1)

    def _retrying(self, on_retry: RetryHook | None) -> AsyncRetrying:
        stop: stop_base = stop_after_attempt(self.attempts)
        wait: wait_base = wait_random_exponential(multiplier=self.backoff, max=self.max_backoff)
        if self.honour_retry_after:
            stop = stop | _RetryAfterTooLong(self.max_retry_after)
            wait = _HonourRetryAfter(wait)

        def before_sleep(state: RetryCallState) -> None:
            error = _error_of(state)
            if on_retry is not None and error is not None:
                delay = state.next_action.sleep if state.next_action is not None else 0.0
                on_retry(error, delay, state.attempt_number)

        return AsyncRetrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception(_retryable),
            sleep=self.sleep or asyncio.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )

    async def run(
        self, attempt: Callable[[], Awaitable[T]], *, on_retry: RetryHook | None = None
    ) -> T:
        """Return ``await attempt()``, retried per the policy; raise the last error."""
        if _ACTIVE.get():
            return await _unwrapped(attempt)
        token = _ACTIVE.set(True)
        try:
            try:
                return await attempt()
            except GiveUp as give_up:
                raise give_up.error from None
            except UpstreamError as exc:
                if self.attempts <= 1 or not exc.is_retryable():
                    raise
                first: UpstreamError = exc
            return await self._retry(attempt, first, on_retry)
        finally:
            _ACTIVE.reset(token)

    async def _retry(
        self,
        attempt: Callable[[], Awaitable[T]],
        first: UpstreamError,
        on_retry: RetryHook | None,
    ) -> T:
        pending: list[UpstreamError] = [first]
        try:
            async for trial in self._retrying(on_retry):
                with trial:
                    if pending:  # tenacity judges the failure that already happened
                        raise pending.pop()
                    return await attempt()
        except GiveUp as give_up:
            raise give_up.error from None
        raise AssertionError("unreachable: tenacity either returns or reraises")  # pragma: no cover


async def _unwrapped(attempt: Callable[[], Awaitable[T]]) -> T:
    try:
        return await attempt()
    except GiveUp as give_up:
        raise give_up.error from None
