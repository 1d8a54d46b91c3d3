"""The gateway's live state: pools, routes (with resolved prompts, retrievers and guards), keys,
rate limits, metrics and the trace writer. ``reload()`` swaps it atomically from gateway.yaml.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from llmops.gateway.auth import KeyStore
from llmops.gateway.config import GatewayConfig, RouteConfig, load_gateway_config
from llmops.gateway.hooks import RouteGuards, build_route_guards
from llmops.gateway.metrics import GatewayMetrics
from llmops.gateway.ratelimit import RateLimiter
from llmops.gateway.revocations import Revocations, revocations_path
from llmops.gateway.shared_state import open_shared_state
from llmops.gateway.upstream import Pool
from llmops.traces import TraceRecord, TraceStore, TraceWriter
from llmops.traces.writer import Observer

if TYPE_CHECKING:
    from llmops.config import Settings

__all__ = ["GatewayRuntime", "RouteRuntime"]

log = logging.getLogger("llmops.gateway")

_MAX_FALLBACKS = 3


@dataclass
class RouteRuntime:
    """A route with everything it needs resolved at load time."""

    name: str
    config: RouteConfig
    prompts: dict[str, Any] = field(default_factory=dict)  # ref -> PromptVersion
    retriever: Any | None = None
    guards: RouteGuards | None = None

    @property
    def passthrough(self) -> bool:
        """Return True when requests can be forwarded as raw bytes (no prompt, RAG or guards)."""
        release = self.config.release
        arm_prompts = release is not None and any(a.prompt for a in release.arms)
        return (
            self.config.prompt is None
            and self.config.pipeline is None
            and self.guards is None
            and not arm_prompts
        )


class GatewayRuntime:
    """Everything a request needs; built from a config, started inside the server's loop."""

    def __init__(
        self,
        config: GatewayConfig,
        settings: Settings,
        *,
        config_path: Path | None = None,
    ) -> None:
        self.settings = settings
        self.config_path = config_path
        self.metrics = GatewayMetrics()
        shared = config.shared_state
        # Kept across reloads, like the buckets: a reload re-reads keys, not who was revoked.
        self.revocations = Revocations(
            revocations_path(settings.state_path) if shared.backend == "memory" else None
        )
        self.limiter = RateLimiter(
            open_shared_state(shared, self.revocations), shared.when_unavailable, shared.retry_after
        )
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="llmops-gw")
        self.started = False
        #: The clock of the time-based caches behind the routes (ML aliases); tests inject one.
        self.clock: Callable[[], float] = time.monotonic
        self.shadow_tasks: set[asyncio.Task[None]] = set()
        #: Where this gateway listens (set by the server before start): the local admin
        #: credential written at start tells the CLI on this machine how to reach it.
        self.listen_url: str | None = None
        self.credential: Path | None = None
        self._admin_token = secrets.token_urlsafe(32)
        self._embedder: asyncio.Future[Any] | None = None
        self._retrievers: dict[str, Any] = {}
        self._id_prefix = secrets.token_hex(8)
        self._ids = itertools.count(1)
        self._apply(config)
        store: TraceStore | None = None
        if config.traces.enabled:
            url = config.traces.url or settings.trace_url
            store = TraceStore(url, rollups=settings.monitor.enabled)
        self.store = store
        observers: list[Observer] = [self.metrics.observe, self._charge_tokens]
        self.monitor: Any = None
        if settings.monitor.enabled:  # sampling, derived fields, monitor gauges (writer thread)
            from llmops.monitor.hooks import install

            self.monitor = install(self, store)
            observers.insert(0, self.monitor.observe)
        self.writer = TraceWriter(
            store,
            flush_interval=config.traces.flush_interval,
            batch_size=config.traces.batch_size,
            record_text=config.traces.record_text,
            observers=observers,
        )

    @classmethod
    def from_file(cls, path: str | Path, settings: Settings) -> GatewayRuntime:
        """Load gateway.yaml and build the runtime (refuses bad config with file:line)."""
        path = Path(path).resolve()
        return cls(load_gateway_config(path, settings), settings, config_path=path)

    # -- building ----------------------------------------------------------------------------

    def _apply(self, config: GatewayConfig) -> None:
        config.check_references(self.settings)  # what `llmops serve --check` checks
        keys = KeyStore(config.auth, self.settings.root, self.revocations)
        keys.set_local_admin(self._admin_token)
        pools = {
            name: Pool(
                name,
                pool,
                on_failure=self.metrics.upstream_failed,
                state_path=self.settings.state_path,
            )
            for name, pool in config.upstreams.items()
        }
        routes = {name: self._route(name, rc) for name, rc in config.routes.items()}
        self.config = config
        self.keys = keys
        self.pools = pools
        self.routes = routes
        names = sorted(routes) + list(config.server.embedding_models)
        self.model_names = names
        self.models_body = orjson.dumps(
            {
                "object": "list",
                "data": [
                    {"id": n, "object": "model", "created": 0, "owned_by": "llmops"} for n in names
                ],
            }
        )

    def _route(self, name: str, rc: RouteConfig) -> RouteRuntime:
        route = RouteRuntime(name, rc)
        refs = {rc.prompt} if rc.prompt else set()
        if rc.release:
            refs.update(a.prompt for a in rc.release.arms if a.prompt)
            if rc.release.shadow and rc.release.shadow.prompt:
                refs.add(rc.release.shadow.prompt)
        if refs:
            from llmops.prompts import load_registry

            registry = load_registry(self.settings)
            route.prompts = {ref: registry.get(ref) for ref in refs}
        if rc.pipeline:
            route.retriever = self._retriever(rc.pipeline)
        route.guards = build_route_guards(rc.guards)
        return route

    def _retriever(self, pipeline: str) -> Any:
        # One retriever per pipeline for the life of the process: this process owns the store.
        found = self._retrievers.get(pipeline)
        if found is None:
            from llmops.rag import Retriever

            found = Retriever.from_pipeline(pipeline, self.settings)
            self._retrievers[pipeline] = found
        return found

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open upstream clients, start health checks, load guards and the embedding model."""
        for pool in self.pools.values():
            await pool.start()
        if self.limiter.shared is not None:
            await self.limiter.shared.start()
            self.limiter.shared.watch(self.pools.values())
        for route in self.routes.values():
            warm = getattr(route.guards, "warm", None)
            if warm is not None:
                await self.in_thread(warm)
        if self._embedder is None and self.config.server.embedding_models:
            # In the background: /healthz answers at once, /readyz waits for the model.
            self._embedder = asyncio.ensure_future(self.in_thread(self._load_embedder))
        if self.listen_url and self.config.server.local_admin and self.credential is None:
            from llmops.gateway.credential import write_credential

            self.credential = write_credential(
                self.settings.state_path, self.listen_url, self._admin_token
            )
        self.started = True

    def _load_embedder(self) -> Any:
        from llmops.embeddings import get_embedder

        return get_embedder(self.settings.embedding.model)

    def embedder_loaded(self) -> bool:
        """Return True once the embedding model finished loading (or none is served)."""
        return not self.config.server.embedding_models or (
            self._embedder is not None and self._embedder.done()
        )

    async def embedder(self) -> Any:
        """Return the embedding model of /v1/embeddings (loaded at start, awaited if needed)."""
        if self._embedder is None:
            self._embedder = asyncio.ensure_future(self.in_thread(self._load_embedder))
        return await asyncio.shield(self._embedder)

    def readiness(self) -> list[str]:
        """Return why the gateway cannot serve yet (empty when ready)."""
        problems = [] if self.started else ["starting"]
        now = time.monotonic()
        for name, route in self.routes.items():
            chain = [self.pools[route.config.upstream]]
            while chain[-1].config.fallback and len(chain) <= _MAX_FALLBACKS:
                chain.append(self.pools[chain[-1].config.fallback])
            if any(not p.is_http or any(r.available(now) for r in p.replicas) for p in chain):
                continue
            up = [r for p in chain for r in p.replicas if r.healthy and not r.drained]
            reason = "breaker open on every healthy replica" if up else "no healthy replica"
            problems.append(f"route {name}: {reason} in pool {chain[0].name}")
        loading = self._embedder
        if self.config.server.embedding_models:
            if loading is None or not loading.done():
                problems.append("embedding model loading")
            elif loading.exception() is not None:
                problems.append(f"embedding model failed to load: {loading.exception()}")
        return problems

    def fallback(self, pool: Pool, hops: int) -> Pool | None:
        """Return the pool to try after ``pool`` failed, or None at the end of its chain."""
        name = pool.config.fallback
        if name is None or hops >= _MAX_FALLBACKS:
            return None
        log.warning("upstream pool %s failed; falling back to %s", pool.name, name)
        return self.pools[name]

    async def close(self) -> None:
        """Close upstream clients, wait for shadow calls briefly, flush traces."""
        if self.credential is not None:
            from llmops.gateway.credential import remove_credential

            remove_credential(self.credential, self._admin_token)
            self.credential = None
        if self.shadow_tasks:
            await asyncio.wait(list(self.shadow_tasks), timeout=5)
        for pool in self.pools.values():
            await pool.close()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.writer.close)
        if self.limiter.shared is not None:
            await self.limiter.shared.close()
        if self.store is not None:
            self.store.close()
        self.executor.shutdown(wait=False)
        self.started = False

    async def reload(self) -> dict[str, Any]:
        """Re-read gateway.yaml; keep serving the old config if the new one is invalid."""
        if self.config_path is None:
            from llmops.errors import UsageError

            raise UsageError("this gateway was not started from a file; nothing to reload")
        config = load_gateway_config(self.config_path, self.settings)
        if config.shared_state != self.config.shared_state:
            from llmops.errors import ConfigError

            raise ConfigError(
                "shared_state changed: a reload cannot move rate limits and revocations",
                file=self.config_path,
                key="shared_state",
                hint="restart the gateway (each replica in turn) to apply it",
            )
        old_pools = self.pools
        self._apply(config)
        await self.start()
        for pool in old_pools.values():
            # In-flight requests hold their own references; close after they had time to end.
            asyncio.get_running_loop().call_later(30, asyncio.ensure_future, pool.close())
        return {"routes": sorted(self.routes), "upstreams": sorted(self.pools)}

    # -- helpers -----------------------------------------------------------------------------

    def new_request_id(self) -> str:
        """Return a fresh request id: a random per-process prefix plus a counter."""
        # os.urandom per request costs a syscall (~100 us on a busy VM); a counter does not.
        return f"{self._id_prefix}{next(self._ids):08x}"

    def submit(self, record: TraceRecord) -> None:
        """Hand a finished request to the trace writer."""
        self.writer.submit(record)

    def _charge_tokens(self, rec: TraceRecord) -> None:
        if rec.key_id is None or rec.shadow_of is not None:
            return
        tokens = (rec.prompt_tokens or 0) + (rec.completion_tokens or 0)
        if not tokens:
            return
        key = self.keys.by_id(rec.key_id)
        if key is not None:
            self.limiter.charge_tokens(key.id, key.rate_limit, tokens)

    async def in_thread(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run blocking work (retrieval, guards, embeddings) on the gateway's worker threads."""
        loop = asyncio.get_running_loop()
        if kwargs:
            return await loop.run_in_executor(self.executor, lambda: fn(*args, **kwargs))
        return await loop.run_in_executor(self.executor, fn, *args)
