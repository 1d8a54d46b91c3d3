"""Upstream pools: replicas behind the keep-alive transport, least-outstanding balancing,
health checks, a circuit breaker per replica and retries by the one ``RetryPolicy``.

An HTTP pool is a ``transport.Sender`` over several replicas: the passthrough forwards its raw
bytes (so the gateway adds as little as possible to each request), managed routes parse them.
Pools of other kinds (``extractive``, plugins) wrap a ``Provider``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import LLMOpsError, UpstreamError
from llmops.gateway.breaker import CircuitBreaker
from llmops.gateway.config import PoolConfig, ReplicaConfig
from llmops.gateway.responses import bad_upstream
from llmops.transport.exchange import Answer, error_message, status_error, transport_error
from llmops.transport.http import HttpEndpoint, HttpResponse, UpstreamClosedError
from llmops.transport.retry import GiveUp, RetryPolicy

if TYPE_CHECKING:
    from llmops.providers.base import Provider

__all__ = ["Pool", "Replica", "UpstreamCall"]

log = logging.getLogger("llmops.gateway")

#: Called as (pool, replica, kind) on every failed attempt: kind is "connect", "timeout" or a status.
FailureHook = Callable[[str, str, str], None]

#: Upstream answers that are about the gateway, not the client: never passed on as they are
#: (the client would read them as its own key or model being wrong), never retried.
_FINAL = {
    401: "{who} rejected the gateway's own credentials (HTTP {status}: {text}); "
    "check {env} of pool '{pool}'",
    403: "{who} rejected the gateway's own credentials (HTTP {status}: {text}); "
    "check {env} of pool '{pool}'",
    404: "{who} does not serve what the gateway asked for (HTTP {status}: {text}); "
    "check the model and base_url of pool '{pool}'",
}


class Replica:
    """One server of a pool, with its balancing and health state."""

    __slots__ = (
        "base_url",
        "breaker",
        "endpoint",
        "drained",
        "health_error",
        "healthy",
        "name",
        "outstanding",
        "root",
        "weight",
    )

    def __init__(self, config: ReplicaConfig, pool: PoolConfig, index: int) -> None:
        self.base_url = config.base_url.rstrip("/")
        # Health paths are relative to the server root, not to the /v1 API root.
        self.root = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url
        self.name = config.name or f"{index}"
        self.weight = config.weight
        self.outstanding = 0
        self.healthy = True
        self.health_error: str | None = None
        self.drained = False
        self.breaker = CircuitBreaker(pool.breaker.failures, pool.breaker.reset_after)
        self.endpoint: HttpEndpoint | None = None

    def open(self, headers: dict[str, str], pool: PoolConfig) -> HttpEndpoint:
        """Create the keep-alive connection pool to this replica."""
        self.endpoint = HttpEndpoint(
            self.base_url,
            connect_timeout=pool.timeouts.connect,
            read_timeout=pool.timeouts.read,
            max_idle=pool.max_connections,
            headers=headers,
        )
        return self.endpoint

    def available(self, now: float) -> bool:
        """Return True when the replica may take a request."""
        return self.healthy and not self.drained and self.breaker.can_try(now)

    def status(self) -> dict[str, Any]:
        """Return the replica state for the admin API."""
        return {
            "name": self.name,
            "base_url": self.base_url,
            "healthy": self.healthy,
            "health_error": self.health_error,
            "drained": self.drained,
            "outstanding": self.outstanding,
            "breaker": self.breaker.state,
        }


class UpstreamCall(Answer):
    """An upstream response being read, served by ``replica``; ``release()`` returns the
    replica's slot and the connection."""

    __slots__ = ("_released", "replica")

    def __init__(self, replica: Replica, response: HttpResponse) -> None:
        super().__init__(response, replica.name)
        self.replica = replica
        self._released = False

    async def body(self) -> bytes:
        """Return the whole body and release; a body that breaks off is a bad upstream (502)."""
        try:
            return await self.response.read()
        except Exception as exc:  # the upstream cut the body short
            raise bad_upstream(f"body broke off ({type(exc).__name__})") from None
        finally:
            self.release()

    def release(self) -> None:
        """Release the connection and the outstanding slot (idempotent)."""
        if not self._released:
            self._released = True
            self.replica.outstanding -= 1
            self.response.release()


class Pool:
    """A named upstream pool."""

    def __init__(
        self,
        name: str,
        config: PoolConfig,
        *,
        on_failure: FailureHook | None = None,
        state_path: Path | None = None,
    ) -> None:
        self.name = name
        self._state_path = state_path
        self.config = config
        self.kind = config.kind
        self.model = config.model
        self.replicas = [Replica(r, config, i) for i, r in enumerate(config.replicas)]
        self.provider: Provider | None = None
        self._started = False
        self._health_task: asyncio.Task[None] | None = None
        self._on_failure = on_failure
        self._headers: dict[str, str] = {"Content-Type": "application/json"}
        if config.api_key_env:
            key = os.environ.get(config.api_key_env)
            if key:
                self._headers["Authorization"] = f"Bearer {key}"
        self._rr = 0
        self.clock: Callable[[], float] = time.monotonic  # the breakers' clock (tests inject)
        r = config.retries
        self.retry = RetryPolicy(
            attempts=r.attempts,
            backoff=r.backoff,
            max_backoff=r.max_backoff,
            honour_retry_after=r.honour_retry_after,
            max_retry_after=r.max_retry_after,
        )

    @property
    def is_http(self) -> bool:
        """Return True for OpenAI-compatible HTTP pools."""
        return self.kind == "openai"

    async def start(self) -> None:
        """Open the keep-alive client (or create the provider) and start health checks."""
        if not self.is_http:
            from llmops.providers import create_provider

            options = dict(self.config.options)
            if self.model is not None:
                options.setdefault("model", self.model)
            self.provider = create_provider(self.kind, **options)
            return
        for replica in self.replicas:
            replica.open(self._headers, self.config)
        self._started = True
        self.discover()
        if self.config.health.enabled:
            self._health_task = asyncio.create_task(self._health_loop())

    async def close(self) -> None:
        """Stop health checks and close connections."""
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._health_task
        for replica in self.replicas:
            if replica.endpoint is not None:
                replica.endpoint.close()
        if self.provider is not None:
            await self.provider.aclose()

    # -- balancing ---------------------------------------------------------------------------

    def pick(self, exclude: Replica | None = None) -> Replica | None:
        """Return the available replica with the fewest outstanding requests per weight."""
        now = self.clock()
        best: Replica | None = None
        best_load = 0.0
        n = len(self.replicas)
        if n == 0:
            return None
        self._rr += 1
        for i in range(n):
            # Rotating the start spreads ties instead of always favouring replica 0.
            r = self.replicas[(self._rr + i) % n]
            if r is exclude and n > 1:
                continue
            if not r.available(now):
                continue
            load = r.outstanding / r.weight
            if best is None or load < best_load:
                best, best_load = r, load
        return best

    # -- sending -----------------------------------------------------------------------------

    async def post(self, path: str, body: bytes, *, request_id: str | None = None) -> UpstreamCall:
        """POST ``body`` to ``path`` on a replica, retrying; return a call whose body is unread.

        Raises ``UpstreamError`` when every attempt failed (the caller may fall back), and at
        once when the upstream refuses the gateway itself (401/403: its key; 404: the model
        or path configured here) or asks, with Retry-After, for longer than
        ``retries.max_retry_after``. Other client errors (4xx but 408/429) are returned as
        they are: they are about the client's request, and retrying cannot help.
        """
        if not self._started:
            raise RuntimeError(f"pool {self.name} is not started")
        headers = {"X-Request-Id": request_id} if request_id else None
        tried: list[Replica] = []
        errors: list[UpstreamError] = []

        async def attempt() -> UpstreamCall:
            replica = self.pick(exclude=tried[-1] if tried else None)
            if replica is None:
                # Nothing left to try (drained, unhealthy, tripped): the last failure says why.
                raise GiveUp(errors[-1] if errors else self._no_replica())
            tried.append(replica)
            try:
                return await self._send(replica, path, body, headers)
            except UpstreamError as exc:
                errors.append(exc)
                raise
            except GiveUp as stop:
                if isinstance(stop.error, UpstreamError):
                    errors.append(stop.error)
                raise

        return await self.retry.run(attempt, on_retry=self._on_retry)

    async def _send(
        self, replica: Replica, path: str, body: bytes, headers: dict[str, str] | None
    ) -> UpstreamCall:
        """One attempt on one replica: breaker and outstanding bookkeeping around the request."""
        replica.breaker.acquire(self.clock())
        replica.outstanding += 1
        endpoint = replica.endpoint or replica.open(self._headers, self.config)
        who = f"upstream {self.name}/{replica.name}"
        try:
            response = await endpoint.request("POST", path, body, headers=headers)
        except (OSError, TimeoutError, UpstreamClosedError) as exc:
            replica.outstanding -= 1
            replica.breaker.failure(self.clock())
            self._failed(replica, "timeout" if isinstance(exc, TimeoutError) else "connect")
            raise transport_error(who, exc, provider=self.name) from None
        status = response.status
        if status < 400 or (status < 500 and status not in _FINAL and status not in (408, 429)):
            replica.breaker.success()
            return UpstreamCall(replica, response)
        raw = await response.read_or(b"(unreadable body)")
        replica.outstanding -= 1
        # A 429 means "busy", and 401/403/404 mean "misconfigured here", not "broken":
        # neither trips the breaker.
        if status < 500 and status != 408:
            replica.breaker.success()
        else:
            replica.breaker.failure(self.clock())
        self._failed(replica, str(status))
        if status in _FINAL:
            raise GiveUp(
                UpstreamError(
                    _FINAL[status].format(
                        who=who,
                        status=status,
                        text=error_message(raw),
                        pool=self.name,
                        env=self.config.api_key_env or "api_key_env",
                    ),
                    provider=self.name,
                    status=status,
                    request_id=response.headers.get("x-request-id"),
                )
            )
        raise status_error(who, status, raw, response.headers, provider=self.name)

    def _no_replica(self) -> UpstreamError:
        return UpstreamError(
            f"no healthy replica in upstream pool '{self.name}'",
            provider=self.name,
            status=503,
            hint="check GET /admin/upstreams; replicas may be drained, unhealthy or tripped",
        )

    def _on_retry(self, error: UpstreamError, delay: float, attempt: int) -> None:
        log.debug(
            "pool %s: attempt %d failed (%s); retrying in %.3f s", self.name, attempt, error, delay
        )

    def _failed(self, replica: Replica, kind: str) -> None:
        if self._on_failure is not None:
            self._on_failure(self.name, replica.name, kind)

    # -- health ------------------------------------------------------------------------------

    async def check_health(self) -> None:
        """Probe every replica once; unhealthy ones stop receiving requests until they recover."""
        if not self._started:
            return
        cfg = self.config.health
        for replica in self.replicas:
            endpoint = replica.endpoint or replica.open(self._headers, self.config)
            error: str | None = "no health path answered"
            for path in cfg.paths:
                try:
                    resp = await asyncio.wait_for(
                        endpoint.request("GET", path, root=True), cfg.timeout
                    )
                    try:
                        await asyncio.wait_for(resp.read(), cfg.timeout)
                    finally:
                        resp.release()
                    if 200 <= resp.status < 300:
                        error = None
                        break
                    error = f"GET {path} returned {resp.status}"
                except (OSError, TimeoutError, UpstreamClosedError) as exc:
                    error = f"GET {path}: {type(exc).__name__}"
            if (error is None) != replica.healthy:
                log.warning(
                    "upstream %s/%s is now %s%s",
                    self.name,
                    replica.name,
                    "healthy" if error is None else "unhealthy",
                    f" ({error})" if error else "",
                )
            replica.healthy = error is None
            replica.health_error = error

    def discover(self) -> None:
        """Join (or drop) the server announced under ``<state>/upstreams/`` as a replica."""
        if not self.config.discover or self._state_path is None:
            return
        from llmops.vllm.upstreams import read_upstream, upstream_file

        path = upstream_file(self._state_path, self.config.discover)
        found = [r for r in self.replicas if r.name == f"discovered:{self.config.discover}"]
        if not path.is_file():
            for r in found:
                self.replicas.remove(r)
            return
        try:
            record = read_upstream(path)
        except LLMOpsError:
            log.warning("ignoring unreadable upstream announcement %s", path)
            return
        if found and found[0].base_url == record.base_url.rstrip("/"):
            return
        for r in found:
            self.replicas.remove(r)
        replica = Replica(
            ReplicaConfig(base_url=record.base_url, name=f"discovered:{self.config.discover}"),
            self.config,
            len(self.replicas),
        )
        self.replicas.append(replica)
        if self.model is None:
            self.model = record.model
        log.warning("upstream %s: discovered %s at %s", self.name, record.name, record.base_url)

    async def _health_loop(self) -> None:
        while True:
            try:
                self.discover()
                await self.check_health()
            except Exception:  # a health probe must never kill the loop
                log.exception("health check of pool %s failed", self.name)
            await asyncio.sleep(self.config.health.interval)

    def status(self) -> dict[str, Any]:
        """Return the pool state for the admin API."""
        return {
            "name": self.name,
            "kind": self.kind,
            "model": self.model,
            "fallback": self.config.fallback,
            "replicas": [r.status() for r in self.replicas],
        }
