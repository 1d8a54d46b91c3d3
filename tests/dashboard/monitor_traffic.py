"""Monitored traffic for the dashboard tests: traces through the trace writer (the monitors'
enricher and sampler, rollups with each batch), sampled answers scored by the monitor's scorer
(groundedness with the real MiniLM model), with planted unsupported answers and a shift of
retrieval scores against the week before."""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from llmops.config import Settings
from llmops.monitor.scoring import Scorer
from llmops.traces import Sampler, TraceRecord, TraceStore
from llmops.traces.enrich import TraceEnricher
from llmops.traces.writer import TraceWriter

HOUR = 3600.0
CONTEXT = (
    "Boil plenty of salted water before the pasta goes in. Cook spaghetti for nine to eleven "
    "minutes until al dente."
)
SUPPORTED = "Cook spaghetti for nine to eleven minutes until al dente."
FABRICATED = "Penguins invented the telescope in 1802 and sold it to sailors."
N_NOW = 80
PLANTED = 16  # every 4th request of the last hour answers unsupported (4 of those 20 are blocked)
BLOCKED = 8  # every 10th request of the last hour is blocked by a guard
#: the ``monitor:`` section of the tests' llmops.yaml
MONITOR: dict[str, Any] = {
    "sampler": {"rate": 1.0, "embed_rate": 0.0, "cap_per_hour": 10**6},
    "drift": {"min_window": 30},
    "release": {"min_requests": 20},
}


@dataclass
class Monitored:
    store: TraceStore
    settings: Settings
    planted: int
    answered: int


def settings() -> Settings:
    return Settings.model_validate({"monitor": MONITOR})


def traffic(now: float, seed: int = 7) -> list[TraceRecord]:
    """Return the week before ``now`` (the reference) and its last hour (the window)."""
    rng = random.Random(seed)
    records = []
    # The week before the window: the rollup detectors' reference (top-1 scores around 0.75).
    for i in range(300):
        top1 = min(0.99, max(0.01, rng.gauss(0.75, 0.05)))
        records.append(
            TraceRecord(
                f"ref{i}",
                ts=now - 25 * HOUR - rng.uniform(0, 5 * 24 * HOUR),  # outside a 1 h or 24 h window
                route="qa",
                arm="stable",
                latency_ms=rng.uniform(40, 60),
                chunk_ids=["pasta#0"],
                chunk_scores=[top1],
            )
        )
    # The window: retrieval scores fell to around 0.45; a slower canary arm (1 in 4); guard blocks.
    for i in range(N_NOW):
        top1 = min(0.99, max(0.01, rng.gauss(0.45, 0.05)))
        blocked = i % 10 == 9
        records.append(
            TraceRecord(
                f"now{i}",
                ts=now - HOUR + 30 + i * 40,
                route="qa",
                arm="canary" if i % 4 == 1 else "stable",
                status=400 if blocked else 200,
                error_code="guardrail_blocked:injection" if blocked else None,
                guards=[{"stage": "input", "name": "injection", "passed": not blocked}],
                latency_ms=rng.uniform(40, 60) + (200 if i % 4 == 1 else 0),
                prompt_name="rag-answer",
                prompt_version="2",
                chunk_ids=["pasta#0"],
                chunk_scores=[top1],
                question="How long should I cook spaghetti?",
                answer=None if blocked else (FABRICATED if i % 4 == 3 else SUPPORTED),
                contexts=[{"id": "pasta#0", "text": CONTEXT, "source": "pasta.md", "score": top1}],
            )
        )
    return records


def monitored(url: str, now: float | None = None) -> Monitored:
    """Write the traffic through the trace writer, then score it with the monitor's scorer."""
    at = time.time() if now is None else now
    cfg = settings()
    store = TraceStore(url)
    writer = TraceWriter(
        store, batch_size=100, observers=[TraceEnricher(Sampler(cfg.monitor.sampler))]
    )
    records = traffic(at)
    for rec in records:
        writer.submit(rec)
    if not writer.flush(60):
        raise RuntimeError("the trace writer did not flush within 60 s")
    writer.close()
    scorer = Scorer(store, cfg, clock=lambda: at)
    # Its own thread: the scorer runs asyncio, and a test's Playwright holds the main thread's loop.
    with ThreadPoolExecutor(1) as pool:
        status = pool.submit(scorer.score_pending, 1000).result()
    if status.errors or status.scored < N_NOW - BLOCKED:
        raise RuntimeError(f"scoring failed: {status}")
    answered = sum(1 for r in records if r.answer)
    planted = sum(1 for r in records if r.answer == FABRICATED)
    return Monitored(store, cfg, planted, answered)
