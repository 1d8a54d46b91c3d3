"""The trace layer: one record per request, the store, its rollups, the writer and the sampler.

Below the gateway, the classic-ML serving and the monitors, which all read and write it; it
imports none of them.
"""

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
