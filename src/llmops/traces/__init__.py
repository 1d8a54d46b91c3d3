"""The trace layer: one record per request, the store, its rollups, the writer and the sampler.

Below the gateway, the classic-ML serving and the monitors, which all read and write it; it
imports none of them. Members load lazily: ``llmops monitor report`` reads rollups and must not
pay for the event models (pydantic) or the writer it never uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmops.lazy import lazy_names as _lazy_names

if TYPE_CHECKING:
    from llmops.traces.enrich import TraceEnricher
    from llmops.traces.events import EventBatch, FeedbackEvent, TraceEvent
    from llmops.traces.locate import project_trace_url
    from llmops.traces.record import TraceRecord
    from llmops.traces.sampling import Sampler
    from llmops.traces.store import TraceStore, normalise_url
    from llmops.traces.writer import TraceWriter

__all__ = [
    "EventBatch",
    "FeedbackEvent",
    "Sampler",
    "TraceEnricher",
    "TraceEvent",
    "TraceRecord",
    "TraceStore",
    "TraceWriter",
    "normalise_url",
    "project_trace_url",
]

_WHERE = {
    "EventBatch": "llmops.traces.events",
    "FeedbackEvent": "llmops.traces.events",
    "TraceEvent": "llmops.traces.events",
    "Sampler": "llmops.traces.sampling",
    "TraceEnricher": "llmops.traces.enrich",
    "TraceRecord": "llmops.traces.record",
    "TraceStore": "llmops.traces.store",
    "TraceWriter": "llmops.traces.writer",
    "normalise_url": "llmops.traces.store",
    "project_trace_url": "llmops.traces.locate",
}

# Lazy: a rollup reader must not import the event models or the writer.
__getattr__ = _lazy_names(__name__, _WHERE, globals())
