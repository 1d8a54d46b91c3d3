"""The online-evaluation sampler: which traces get scored, with what inclusion probability.

A trace is sampled when its ``sample_u`` (a hash of the request id, uniform in [0, 1)) is below
its inclusion probability ``pi``. The same request id always gets the same ``u``, so a lower rate
samples a subset of what a higher rate samples, and a replay samples the same traces.

``pi`` is the route's rate, shrunk so the expected count stays under the hourly cap, times
``risk_boost`` for risky traffic (low top-1 retrieval score, a guard that fired, an abstention, an
error, negative feedback). Each trace stores its own ``pi``; the monitors weight scored traces by
``1 / pi`` (Horvitz-Thompson), so oversampling risky traffic does not bias the rates they report.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmops.monitor.settings import SamplerSettings
    from llmops.traces.record import TraceRecord

__all__ = ["Sampler", "risk_flags"]


def risk_flags(rec: TraceRecord, low_score: float) -> list[str]:
    """Return why ``rec`` is risky (empty when it is not)."""
    flags = []
    if rec.top1_score is not None and rec.top1_score < low_score:
        flags.append("low_score")
    if rec.chunk_ids is not None and not rec.chunk_ids:
        flags.append("empty_retrieval")
    if rec.guard_fired or (rec.error_code or "").startswith("guardrail_blocked"):
        flags.append("guard")
    if rec.abstained:
        flags.append("abstained")
    if rec.status >= 500:
        flags.append("error")
    if rec.feedback is not None and rec.feedback < 0:
        flags.append("feedback")
    return flags


class Sampler:
    """Decide per trace; thread-safe (the writer thread and the events endpoint share one)."""

    def __init__(
        self, settings: SamplerSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        # route -> (hour, traffic this hour, traffic last hour)
        self._traffic: dict[str, tuple[int, int, int]] = {}

    def base_rate(self, route: str, ts: float) -> float:
        """Return the route's rate now, shrunk so the expected sampled count fits the cap."""
        cfg = self.settings.routes.get(route)
        rate = cfg.rate if cfg is not None and cfg.rate is not None else self.settings.rate
        cap = (
            cfg.cap_per_hour
            if cfg is not None and cfg.cap_per_hour is not None
            else self.settings.cap_per_hour
        )
        hour = int(ts // 3600)
        with self._lock:
            seen_hour, now_count, last_count = self._traffic.get(route, (hour, 0, 0))
            if hour != seen_hour:
                last_count = now_count if hour == seen_hour + 1 else 0
                now_count = 0
            now_count += 1
            self._traffic[route] = (hour, now_count, last_count)
        expected = max(now_count, last_count, 1)
        return min(rate, cap / expected)

    def embed_rate(self, route: str) -> float:
        """Return the share of the route's queries embedded for the drift test."""
        cfg = self.settings.routes.get(route)
        if cfg is not None and cfg.embed_rate is not None:
            return cfg.embed_rate
        return self.settings.embed_rate

    def decide(self, rec: TraceRecord) -> None:
        """Set ``inclusion_p``, ``sampled`` and ``risk`` on a derived record."""
        if rec.sample_u is None or rec.question is None:
            return  # nothing to score (predictions, failed parses)
        base = self.base_rate(rec.route or "", rec.ts)
        flags = risk_flags(rec, self.settings.low_score)
        pi = min(1.0, base * self.settings.risk_boost) if flags else base
        rec.inclusion_p = pi
        rec.sampled = rec.sample_u < pi
        rec.risk = ",".join(flags) or None

    def on_feedback(
        self, inclusion_p: float | None, risk: str | None, u: float | None, score: float
    ) -> tuple[float, bool, str | None] | None:
        """Return the new (pi, sampled, risk) after feedback, or None when nothing changes.

        Negative feedback makes a trace risky after the fact: its pi grows to the boosted
        rate, and since ``u`` is fixed the trace joins the sample exactly when ``u < pi``.
        """
        if inclusion_p is None or u is None or score >= 0:
            return None
        flags = [f for f in (risk or "").split(",") if f]
        if "feedback" in flags:
            return None
        pi = inclusion_p if flags else min(1.0, inclusion_p * self.settings.risk_boost)
        return pi, u < pi, ",".join([*flags, "feedback"])
