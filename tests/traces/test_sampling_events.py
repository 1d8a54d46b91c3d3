"""The sampler (nested, reproducible, capped, risk-weighted), derived fields and event checks."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llmops.monitor.settings import SamplerRoute, SamplerSettings
from llmops.traces import EventBatch, Sampler, TraceRecord
from llmops.traces.derive import derive, sample_u
from llmops.traces.events import MAX_AHEAD_S, to_record

NOW = 1_780_000_000.0


def _rec(i: int, **kw: object) -> TraceRecord:
    rec = TraceRecord(f"req-{i}", ts=NOW, route="qa", question="q?", answer="An answer.", **kw)  # type: ignore[arg-type]
    return derive(rec)


def test_sample_u_is_uniform_and_stable() -> None:
    us = [sample_u(f"id-{i}") for i in range(20_000)]
    assert us[:5] == [sample_u(f"id-{i}") for i in range(5)]  # same id, same number
    assert all(0 <= u < 1 for u in us)
    deciles = [sum(int(u * 10) == d for u in us) for d in range(10)]
    assert max(abs(c - 2000) for c in deciles) < 150  # about 2,000 per decile


def test_a_lower_rate_samples_a_subset() -> None:
    chosen = {}
    for rate in (0.05, 0.2, 0.5):
        sampler = Sampler(SamplerSettings(rate=rate, cap_per_hour=10**9))
        recs = [_rec(i) for i in range(3000)]
        for r in recs:
            sampler.decide(r)
        chosen[rate] = {r.request_id for r in recs if r.sampled}
    assert chosen[0.05] < chosen[0.2] < chosen[0.5]
    assert 0.04 < len(chosen[0.05]) / 3000 < 0.06
    again = Sampler(SamplerSettings(rate=0.2, cap_per_hour=10**9))
    recs = [_rec(i) for i in range(3000)]
    for r in recs:
        again.decide(r)
    assert {r.request_id for r in recs if r.sampled} == chosen[0.2]  # a replay samples the same


def test_risky_traffic_is_oversampled_with_its_probability_recorded() -> None:
    sampler = Sampler(SamplerSettings(rate=0.1, risk_boost=4, cap_per_hour=10**9, low_score=0.3))
    low = _rec(1, chunk_ids=["a"], chunk_scores=[0.1])
    high = _rec(2, chunk_ids=["a"], chunk_scores=[0.9])
    guard = _rec(3, guards=[{"name": "pii", "passed": False}])
    abstain = derive(TraceRecord("req-4", ts=NOW, route="qa", question="q", answer="I don't know"))
    for r in (low, high, guard, abstain):
        sampler.decide(r)
    assert low.inclusion_p == pytest.approx(0.4) and low.risk == "low_score"
    assert high.inclusion_p == pytest.approx(0.1) and high.risk is None
    assert guard.risk == "guard" and abstain.risk == "abstained"
    assert low.sampled == (low.sample_u is not None and low.sample_u < 0.4)


def test_the_hourly_cap_shrinks_the_rate_and_per_route_rates_apply() -> None:
    cfg = SamplerSettings(rate=0.5, cap_per_hour=100, routes={"vip": SamplerRoute(rate=1.0)})
    sampler = Sampler(cfg)
    recs = [_rec(i) for i in range(5000)]
    for r in recs:
        sampler.decide(r)
    taken = sum(bool(r.sampled) for r in recs)
    assert taken < 1000  # 2,500 without the cap; the rate fell as the hour filled
    assert recs[-1].inclusion_p == pytest.approx(100 / 5000)
    vip = TraceRecord("v1", ts=NOW, route="vip", question="q", answer="a")
    sampler.decide(derive(vip))
    assert vip.inclusion_p == 1.0 and vip.sampled


def test_negative_feedback_pulls_a_trace_into_the_sample() -> None:
    sampler = Sampler(SamplerSettings(rate=0.1, risk_boost=4))
    change = sampler.on_feedback(0.1, None, 0.25, -1.0)
    assert change == (pytest.approx(0.4), True, "feedback")
    assert sampler.on_feedback(0.1, None, 0.25, 1.0) is None  # positive feedback: nothing
    assert sampler.on_feedback(0.4, "low_score", 0.25, -1.0) == (0.4, True, "low_score,feedback")


def test_derived_fields() -> None:
    rec = derive(
        TraceRecord(
            "r", answer="I'm sorry, but I can't help with that.", chunk_ids=["a", "b"],
            chunk_scores=[0.8, 0.2], guards=[{"name": "pii", "passed": True}],
        )
    )  # fmt: skip
    assert rec.refused and rec.top1_score == 0.8 and rec.topk_score == 0.2
    assert rec.guard_fired is False and rec.answer_chars == len(rec.answer or "")
    shadow = derive(TraceRecord("r-shadow", shadow_of="r"))
    assert shadow.sample_u == sample_u("r")  # both arms of a request are sampled together


@pytest.mark.parametrize(
    "answer",
    [
        "I don't know.",
        "i CANNOT ANSWER that from these documents",
        "There is not enough information in the context.",
        "That isn't covered in the provided documents.",
        "I am unable to determine the date.",
        "No relevant passage was found.",
        "Paris is the capital of France.",
        "I know the answer: it is not in Paris.",
        "Enough information: the answer is 42.",
        "",
    ],
)
def test_abstained_agrees_with_the_eval_metric(answer: str) -> None:
    # The trace's abstention uses one compiled alternation of the metric's patterns.
    from llmops.evals.metrics.behaviour import is_decline

    rec = derive(TraceRecord("r", answer=answer))
    assert rec.abstained is (is_decline(answer) if answer.strip() else True)


@pytest.mark.parametrize(
    ("events", "where"),
    [
        ([{"request_id": "a"}], "events.0.trace.route"),
        ([{"request_id": "a", "route": "r", "latency_ms": "fast"}], "events.0.trace.latency_ms"),
        ([{"request_id": "a", "route": "r", "latency_ms": "12"}], "events.0.trace.latency_ms"),
        ([{"request_id": "a", "route": "r", "colour": "red"}], "events.0.trace.colour"),
        ([{"request_id": "a", "route": "r", "status": 700}], "events.0.trace.status"),
        ([{"type": "feedback", "request_id": "a", "score": 3}], "events.0.feedback.score"),
        ([], "events"),
    ],
)
def test_bad_events_are_refused_with_their_location(events: list[object], where: str) -> None:
    with pytest.raises(ValidationError) as info:
        EventBatch.model_validate({"events": events})
    loc = ".".join(str(p) for p in info.value.errors()[0]["loc"])
    assert loc == where


def test_clock_skew_is_absorbed_and_reported_and_milliseconds_refused() -> None:
    batch = EventBatch.model_validate(
        {"events": [{"request_id": "a", "route": "r", "ts": NOW + 600}]}
    )
    event = batch.events[0]
    rec, skew = to_record(event, NOW)  # type: ignore[arg-type]
    assert rec.ts == NOW and rec.ts_client == NOW + 600 and skew == pytest.approx(600)
    late, none = to_record(
        EventBatch.model_validate(
            {"events": [{"request_id": "b", "route": "r", "ts": NOW - 60}]}
        ).events[0],  # type: ignore[arg-type]
        NOW,
    )
    assert late.ts == NOW - 60 and none is None
    ms = EventBatch.model_validate(
        {"events": [{"request_id": "c", "route": "r", "ts": NOW * 1000}]}
    ).events[0]
    with pytest.raises(ValueError, match="milliseconds"):
        to_record(ms, NOW)  # type: ignore[arg-type]
    assert MAX_AHEAD_S == 86400
