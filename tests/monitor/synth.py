"""Synthetic traces with chosen timestamps, for tests that need time windows (no sleeping)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from llmops.monitor.settings import SamplerSettings
from llmops.traces import Sampler, TraceRecord, TraceStore
from llmops.traces.derive import derive

NOW = 1_780_000_000.0


@dataclass
class Arm:
    """How one arm of a route behaves."""

    name: str | None = None
    error_rate: float = 0.02
    unsupported: float = 0.1
    latency_ms: float = 80.0
    top1_mean: float = 0.6


def traffic(
    route: str,
    n: int,
    start: float,
    end: float,
    *,
    arm: Arm | None = None,
    seed: int = 0,
    sampler: Sampler | None = None,
) -> list[TraceRecord]:
    """Return ``n`` scored-looking traces spread over [start, end)."""
    rng = random.Random(seed)
    arm = arm or Arm()
    sampler = sampler or Sampler(SamplerSettings(rate=0.3, cap_per_hour=10**9))
    out = []
    for i in range(n):
        failed = rng.random() < arm.error_rate
        top1 = min(0.99, max(0.01, rng.gauss(arm.top1_mean, 0.12)))
        abstain = rng.random() < 0.08
        rec = TraceRecord(
            f"{route}-{arm.name}-{seed}-{i}",
            ts=rng.uniform(start, end),
            route=route,
            arm=arm.name,
            status=500 if failed else 200,
            latency_ms=rng.expovariate(1 / arm.latency_ms),
            prompt_name="rag-answer",
            prompt_version=rng.choice(["1", "2"]),
            prompt_tokens=rng.randint(50, 400),
            completion_tokens=rng.randint(5, 80),
            chunk_ids=["a", "b", "c"],
            chunk_scores=[top1, top1 * 0.8, top1 * 0.6],
            chunk_sources=[rng.choice(["a.md", "b.md", "c.md"]) for _ in range(3)],
            question=f"question {rng.randint(0, 50)}?",
            answer=None if failed else ("I don't know" if abstain else "An answer [a]."),
        )
        derive(rec)
        sampler.decide(rec)
        if rec.sampled and not failed:
            rec.scored_at = rec.ts + 1
            if not abstain:
                rec.unsupported = rng.random() < arm.unsupported
                rec.groundedness = 0.5 if rec.unsupported else 1.0
        out.append(rec)
    return out


def fill(store: TraceStore, records: list[TraceRecord]) -> None:
    """Write records in batches, as the gateway's writer does."""
    for start in range(0, len(records), 500):
        store.write(records[start : start + 500])
