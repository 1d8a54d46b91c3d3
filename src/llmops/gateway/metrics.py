"""Prometheus metrics for ``/metrics``, in a registry per gateway (no process globals).

Request metrics are fed from finished trace records on the trace writer's thread, so the
request path pays nothing for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from llmops.gateway.upstream import Pool
    from llmops.traces import TraceRecord

__all__ = ["GatewayMetrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class GatewayMetrics:
    """Requests, latencies, tokens, upstream errors, breaker states and guard blocks."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        r = self.registry

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(f"llmops_gateway_{name}", doc, labels, registry=r)

        def gauge(name: str, doc: str, *labels: str) -> Gauge:
            return Gauge(f"llmops_gateway_{name}", doc, labels, registry=r)

        def latency(name: str, doc: str, *labels: str) -> Histogram:
            return Histogram(
                f"llmops_gateway_{name}", doc, labels, buckets=_LATENCY_BUCKETS, registry=r
            )

        replica = ("upstream", "replica")
        self.requests = counter("requests", "Requests served", "route", "endpoint", "status")
        self.latency = latency("request_seconds", "Whole-request latency", "route", "endpoint")
        self.first_token = latency(
            "first_token_seconds", "Time to the first streamed token", "route"
        )
        self.retrieval = latency("retrieval_seconds", "Retrieval latency on RAG routes", "route")
        self.tokens = counter("tokens", "Tokens by kind", "route", "kind")
        self.upstream_errors = counter(
            "upstream_errors", "Failed upstream attempts (retried or not)", *replica, "kind"
        )
        self.breaker_state = gauge(
            "breaker_state", "Circuit breaker per replica: 0 closed, 1 half-open, 2 open", *replica
        )
        self.replica_healthy = gauge(
            "replica_healthy",
            "1 when the replica passes health checks and is not drained",
            *replica,
        )
        self.guard_blocks = counter("guard_blocks", "Requests blocked by a guard", "route", "guard")

    def _child(self, metric: Any, *labels: str) -> Any:
        # labels() takes a lock and builds a tuple each call; the children never change.
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe(self, rec: TraceRecord) -> None:
        """Count one finished request (called on the trace writer thread)."""
        route = rec.route or "-"
        child = self._child
        child(self.requests, route, rec.endpoint, str(rec.status)).inc()
        if rec.latency_ms is not None:
            child(self.latency, route, rec.endpoint).observe(rec.latency_ms / 1000)
        if rec.first_token_ms is not None:
            child(self.first_token, route).observe(rec.first_token_ms / 1000)
        if rec.retrieval_ms is not None:
            child(self.retrieval, route).observe(rec.retrieval_ms / 1000)
        if rec.prompt_tokens:
            child(self.tokens, route, "prompt").inc(rec.prompt_tokens)
        if rec.completion_tokens:
            child(self.tokens, route, "completion").inc(rec.completion_tokens)
        if rec.error_code and rec.error_code.startswith("guardrail_blocked:"):
            self.guard_blocks.labels(route, rec.error_code.split(":", 1)[1]).inc()

    def upstream_failed(self, pool: str, replica: str, kind: str) -> None:
        """Count a failed upstream attempt."""
        self.upstream_errors.labels(pool, replica, kind).inc()

    def render(self, pools: list[Pool]) -> bytes:
        """Return the exposition text, with breaker and health gauges refreshed now."""
        for pool in pools:
            for rep in pool.replicas:
                self.breaker_state.labels(pool.name, rep.name).set(rep.breaker.value)
                self.replica_healthy.labels(pool.name, rep.name).set(
                    1 if rep.healthy and not rep.drained else 0
                )
        return generate_latest(self.registry)
