"""What ``POST /v1/monitor/events`` accepts: traces from applications that skip the gateway,
and feedback on earlier answers.

A batch is validated whole before anything is stored: one bad event rejects the batch with the
first problem's location (``events.3.latency_ms``) and nothing is written. Types are strict (a
number sent as a string is an error, not a guess). Timestamps are seconds since the epoch; an
event up to a day ahead of the gateway's clock is stored at the time it arrived, keeps the
sender's time in ``ts_client`` and is listed in the response; further ahead (milliseconds sent
as seconds) is an error.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from llmops.traces.record import TraceRecord

__all__ = [
    "MAX_AHEAD_S",
    "SKEW_TOLERANCE_S",
    "ContextIn",
    "EventBatch",
    "EventsAccepted",
    "FeedbackEvent",
    "TraceEvent",
    "to_record",
]

SKEW_TOLERANCE_S = 300.0
MAX_AHEAD_S = 86400.0
_EPOCH_2000 = 946684800.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ContextIn(_Strict):
    """One retrieved passage the answer was written from."""

    id: str = Field(min_length=1, max_length=255)
    text: str | None = None
    source: str | None = Field(None, max_length=1024)
    score: float | None = None


Id = Annotated[str, Field(min_length=1, max_length=64)]
Name = Annotated[str, Field(min_length=1, max_length=255)]


class TraceEvent(_Strict):
    """One answered request, with the same lineage fields as a gateway trace."""

    type: Literal["trace"] = "trace"
    request_id: Id
    route: Name = Field(description="the application or route name the monitors group by")
    ts: float | None = Field(None, description="seconds since the epoch; default: arrival")
    question: str | None = None
    answer: str | None = None
    contexts: list[ContextIn] | None = Field(None, max_length=100)
    status: int = Field(200, ge=100, le=599)
    error_code: str | None = Field(None, max_length=255)
    error_message: str | None = None
    latency_ms: float | None = Field(None, ge=0)
    first_token_ms: float | None = Field(None, ge=0)
    prompt_tokens: int | None = Field(None, ge=0, le=2**31 - 1)
    completion_tokens: int | None = Field(None, ge=0, le=2**31 - 1)
    prompt_name: Name | None = None
    prompt_version: Name | None = None
    prompt_hash: Name | None = None
    index_pipeline: Name | None = None
    index_version: Name | None = None
    pipeline_hash: Name | None = None
    index_embedding_model: str | None = None
    query_embedding_model: str | None = None
    upstream: Name | None = None
    upstream_model: Name | None = None
    arm: Name | None = None
    user: Name | None = None
    guards: list[dict[str, Any]] | None = None
    feedback: float | None = Field(None, ge=-1, le=1)
    extra: dict[str, Any] | None = None


class FeedbackEvent(_Strict):
    """A user's verdict on an earlier answer: -1 (bad) to 1 (good)."""

    type: Literal["feedback"]
    request_id: Id
    score: float = Field(ge=-1, le=1)
    comment: str | None = Field(None, max_length=2000)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("type", "trace"))
    return str(getattr(value, "type", "trace"))


Event = Annotated[
    Annotated[TraceEvent, Tag("trace")] | Annotated[FeedbackEvent, Tag("feedback")],
    Discriminator(_kind),
]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class EventBatch(_Strict):
    """The request body: up to 1,000 events."""

    events: list[Event] = Field(min_length=1, max_length=1000)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        # PostgreSQL text cannot hold NUL: refuse it for every store, not only there.
        if _has_nul(data):
            raise ValueError("text must not contain NUL (\\u0000) characters")
        return data


class EventsAccepted(BaseModel):
    """What ``POST /v1/monitor/events`` answers when the batch is stored."""

    accepted: int = Field(description="trace events stored")
    feedback: int = Field(description="feedback events applied to a stored trace")
    unmatched_feedback: list[str] = Field(description="request ids no stored trace has")
    sampled: int = Field(description="stored traces chosen for online evaluation")
    clock_skew: list[dict[str, Any]] = Field(
        description="events whose ts was ahead of the gateway's clock: index, request_id, ahead_s"
    )


def to_record(event: TraceEvent, now: float) -> tuple[TraceRecord, float | None]:
    """Return the trace record of ``event`` and the clock skew when its time was replaced.

    Raise ValueError for a timestamp that cannot be seconds since the epoch.
    """
    ts, skew = now, None
    if event.ts is not None:
        if event.ts < _EPOCH_2000:
            raise ValueError("ts: before the year 2000; send seconds since the epoch")
        ahead = event.ts - now
        if ahead > MAX_AHEAD_S:
            raise ValueError(
                f"ts: {ahead / 86400:.0f} days ahead of the gateway's clock; send seconds since "
                "the epoch (not milliseconds)"
            )
        if ahead > SKEW_TOLERANCE_S:
            skew = ahead  # stored at arrival; the sender's time is kept in ts_client
        else:
            ts = event.ts
    data = event.model_dump(exclude={"type", "contexts", "ts"})
    rec = TraceRecord(endpoint="event", ts=ts, **data)
    if skew is not None:
        rec.ts_client = event.ts
    if event.contexts is not None:
        rec.chunk_ids = [c.id for c in event.contexts]
        if all(c.score is not None for c in event.contexts):
            rec.chunk_scores = [float(c.score or 0.0) for c in event.contexts]
        rec.chunk_sources = [c.source for c in event.contexts]
        rec.raw_contexts = [c.model_dump() for c in event.contexts]
    return rec, skew
