"""What the gateway runs for the monitors: one observer on the trace writer's thread, the
``/metrics`` collector, and ``POST /v1/monitor/events``.

The gateway imports this module only when ``monitor.enabled`` is true; nothing here runs on the
request path (the observer runs on the writer thread before each batch is written).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from llmops.traces.enrich import TraceEnricher
from llmops.traces.sampling import Sampler

if TYPE_CHECKING:
    from llmops.traces.events import EventBatch
    from llmops.traces.record import TraceRecord
    from llmops.traces.store import TraceStore

__all__ = ["EventsRejected", "GatewayMonitor", "install", "receive_events"]


class GatewayMonitor:
    """The monitors' part of one gateway: enricher, sampler counters, signal collector."""

    def __init__(self, runtime: Any, store: TraceStore | None) -> None:
        from prometheus_client import Counter

        from llmops.monitor.coverage import CoverageCache

        settings = runtime.settings
        self.runtime = runtime
        self.store = store
        self.sampler = Sampler(settings.monitor.sampler)
        self.enricher = TraceEnricher(
            self.sampler, coverage=CoverageCache(settings).lookup, fallback=self._fallback
        )
        registry = runtime.metrics.registry
        self.sampled = Counter(
            "llmops_monitor_sampled", "Traces chosen for online evaluation", ["route"],
            registry=registry,
        )  # fmt: skip
        if store is not None:
            from llmops.monitor.exporter import SignalCollector

            registry.register(SignalCollector(store))

    def _fallback(self, rec: TraceRecord) -> bool | None:
        route = self.runtime.routes.get(rec.route or "")
        if route is None or rec.upstream is None or rec.shadow_of is not None:
            return None
        config = route.config
        primary = {config.upstream}
        if config.release is not None:
            primary |= {a.upstream for a in config.release.arms if a.upstream}
        return rec.upstream not in primary

    def observe(self, rec: TraceRecord) -> None:
        """Enrich and sample one finished trace (writer thread)."""
        self.enricher(rec)
        if rec.sampled:
            self.sampled.labels(rec.route or "-").inc()


def install(runtime: Any, store: TraceStore | None) -> GatewayMonitor:
    """Return the monitor hooks for a gateway runtime."""
    return GatewayMonitor(runtime, store)


class EventsRejected(Exception):  # noqa: N818 - a response, not a failure of the gateway
    """The batch cannot be stored: the status, message and parameter of the error answer."""

    def __init__(self, status: int, message: str, param: str | None, code: str) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


async def receive_events(runtime: Any, batch: EventBatch, key: Any) -> dict[str, Any]:
    """Store a validated batch whole; return the answer body or raise EventsRejected."""
    from llmops.traces.events import FeedbackEvent, to_record

    if not key.allows_route(["monitor"]):
        raise EventsRejected(
            403, f"key '{key.id}' may not send monitor events (needs scope: monitor)", None,
            "insufficient_scope",
        )  # fmt: skip
    if runtime.store is None:
        raise EventsRejected(
            503, "traces are disabled (traces.enabled in gateway.yaml)", None, "traces_off"
        )
    now = time.time()
    records, skews, feedback = [], [], []
    for i, event in enumerate(batch.events):
        if isinstance(event, FeedbackEvent):
            feedback.append(event)
            continue
        try:
            rec, skew = to_record(event, now)
        except ValueError as exc:
            raise EventsRejected(
                422, f"events.{i}.{exc}; nothing was stored", f"events.{i}.ts", "invalid_event"
            ) from None
        if skew is not None:
            skews.append({"index": i, "request_id": event.request_id, "ahead_s": round(skew, 1)})
        records.append(rec)
    monitor = getattr(runtime, "monitor", None)
    if monitor is not None:
        for rec in records:
            monitor.observe(rec)
    store = runtime.store
    if records:
        await runtime.in_thread(store.write, records, runtime.config.traces.record_text)
    unmatched = []
    resample = monitor.sampler.on_feedback if monitor is not None else None
    for fb in feedback:
        done = await runtime.in_thread(store.apply_feedback, fb.request_id, fb.score, resample)
        if done is None:
            unmatched.append(fb.request_id)
    return {
        "accepted": len(records),
        "feedback": len(feedback) - len(unmatched),
        "unmatched_feedback": unmatched,
        "sampled": sum(1 for r in records if r.sampled),
        "clock_skew": skews,
    }
