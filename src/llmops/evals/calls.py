"""Every model call of a run goes through one ``ModelCaller``.

It bounds concurrency, answers from the cache, collapses identical in-flight calls into one
(so the four aspects of a combined judge verdict cost one call even with ``--no-cache``),
retries retryable upstream errors by the one ``transport.RetryPolicy`` (the providers inside a
call then make one attempt each: nested policies do not multiply), applies a per-call timeout
and counts calls, hits, retries and tokens. Calls that make several HTTP requests of their own
(ragas) pass ``retry=False`` and retry each request in the transport instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from llmops.errors import UpstreamError
from llmops.evals.cache import ModelCache, cache_key
from llmops.evals.records import CallStats
from llmops.transport.retry import RetryPolicy

__all__ = ["CallOutcome", "ModelCaller"]

Kind = Literal["target", "judge"]


class CallOutcome:
    """A call's value and whether it came from the cache."""

    __slots__ = ("cached", "value")

    def __init__(self, value: dict[str, Any], cached: bool) -> None:
        self.value = value
        self.cached = cached


class ModelCaller:
    """Cache + single-flight + semaphore + retries + timeout + counters."""

    def __init__(
        self,
        cache: ModelCache,
        *,
        concurrency: int = 8,
        retries: int = 3,
        timeout: float = 60.0,
        stats: CallStats | None = None,
        judge_timeout: float | None = None,
    ) -> None:
        self.cache = cache
        self.timeout = timeout
        # a judge (often a local model on a CPU) gets its own, usually longer, budget
        self.judge_timeout = judge_timeout
        # Batch runs can afford to wait out a long Retry-After; a gateway request cannot.
        self.retry = RetryPolicy(
            attempts=retries + 1, backoff=0.5, max_backoff=20.0, max_retry_after=60.0
        )
        self.stats = stats or CallStats()
        self._semaphore = asyncio.Semaphore(concurrency)
        self._inflight: dict[str, asyncio.Future[CallOutcome]] = {}

    def count_retry(self, error: UpstreamError, delay: float, attempt: int) -> None:
        """Count a retry (a ``RetryHook``: retries in the transport count here too)."""
        self.stats.retries += 1

    async def call(
        self,
        kind: Kind,
        material: dict[str, Any],
        fn: Callable[[], Awaitable[dict[str, Any]]],
        *,
        validate: Callable[[dict[str, Any]], None] | None = None,
        retry: bool = True,
    ) -> CallOutcome:
        """Return the answer for ``material``, calling ``fn`` only on a cache miss.

        ``validate`` may raise to reject a cached value (it is then recomputed); ``retry=False``
        makes one attempt (for calls whose requests retry on their own).
        """
        key = cache_key(material)
        pending = self._inflight.get(key)
        if pending is not None:
            outcome = await asyncio.shield(pending)
            return CallOutcome(outcome.value, True)
        hit = self.cache.get(key)
        if hit is not None:
            try:
                if validate is not None:
                    validate(hit)
            except Exception:  # noqa: BLE001 - a stale entry is recomputed, not fatal
                hit = None
        if hit is not None:
            self.stats.cache_hits += 1
            return CallOutcome(hit, True)
        future: asyncio.Future[CallOutcome] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await self._call_with_retries(kind, fn, retry)
            if validate is not None:
                validate(value)
            self.cache.put(key, value)
            outcome = CallOutcome(value, False)
            future.set_result(outcome)
            return outcome
        except BaseException as exc:
            future.set_exception(exc)
            # Nobody else may be waiting; retrieve the exception so asyncio does not warn.
            future.exception()
            raise
        finally:
            self._inflight.pop(key, None)

    async def _call_with_retries(
        self, kind: Kind, fn: Callable[[], Awaitable[dict[str, Any]]], retry: bool
    ) -> dict[str, Any]:
        self.stats.cache_misses += 1

        timeout = self.timeout
        if kind == "judge" and self.judge_timeout is not None:
            timeout = self.judge_timeout

        async def attempt() -> dict[str, Any]:
            try:
                async with self._semaphore:
                    if kind == "target":
                        self.stats.target_calls += 1
                    else:
                        self.stats.judge_calls += 1
                    value = await asyncio.wait_for(fn(), timeout=timeout)
            except TimeoutError:
                raise UpstreamError(
                    f"{kind} call timed out after {timeout:g} s", status=408
                ) from None
            usage = value.get("usage") or {}
            self.stats.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            self.stats.completion_tokens += int(usage.get("completion_tokens") or 0)
            return value

        if not retry:
            return await attempt()
        return await self.retry.run(attempt, on_retry=self.count_retry)
