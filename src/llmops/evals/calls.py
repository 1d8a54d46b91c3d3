"""Every model call of a run goes through one ``ModelCaller``.

It bounds concurrency, answers from the cache, collapses identical in-flight calls into one
(so the four aspects of a combined judge verdict cost one call even with ``--no-cache``),
retries retryable upstream errors with exponential backoff (honouring Retry-After), applies a
per-call timeout and counts calls, hits, retries and tokens.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from llmops.errors import UpstreamError
from llmops.evals.cache import ModelCache, cache_key
from llmops.evals.records import CallStats

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
        backoff: float = 0.5,
        max_backoff: float = 20.0,
        stats: CallStats | None = None,
    ) -> None:
        self.cache = cache
        self.retries = retries
        self.timeout = timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.stats = stats or CallStats()
        self._semaphore = asyncio.Semaphore(concurrency)
        self._inflight: dict[str, asyncio.Future[CallOutcome]] = {}
        self._rng = random.Random(0)

    async def call(
        self,
        kind: Kind,
        material: dict[str, Any],
        fn: Callable[[], Awaitable[dict[str, Any]]],
        *,
        validate: Callable[[dict[str, Any]], None] | None = None,
    ) -> CallOutcome:
        """Return the answer for ``material``, calling ``fn`` only on a cache miss.

        ``validate`` may raise to reject a cached value (it is then recomputed).
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
            value = await self._call_with_retries(kind, fn)
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
        self, kind: Kind, fn: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        attempt = 0
        while True:
            self.stats.cache_misses += 1 if attempt == 0 else 0
            try:
                async with self._semaphore:
                    if kind == "target":
                        self.stats.target_calls += 1
                    else:
                        self.stats.judge_calls += 1
                    value = await asyncio.wait_for(fn(), timeout=self.timeout)
            except TimeoutError:
                error = UpstreamError(f"model call timed out after {self.timeout:g} s", status=408)
            except UpstreamError as exc:
                error = exc
            else:
                usage = value.get("usage") or {}
                self.stats.prompt_tokens += int(usage.get("prompt_tokens") or 0)
                self.stats.completion_tokens += int(usage.get("completion_tokens") or 0)
                return value
            if attempt >= self.retries or not error.is_retryable():
                raise error
            delay = error.retry_after
            if delay is None:
                delay = min(self.max_backoff, self.backoff * 2**attempt)
                delay *= 0.5 + self._rng.random()  # jitter keeps parallel retries apart
            attempt += 1
            self.stats.retries += 1
            await asyncio.sleep(min(delay, self.max_backoff))
