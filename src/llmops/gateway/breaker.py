"""A circuit breaker per replica: closed, open after N consecutive failures, then one probe."""

from __future__ import annotations

import time
from typing import Literal

__all__ = ["BreakerState", "CircuitBreaker"]

BreakerState = Literal["closed", "open", "half_open"]
STATE_VALUE: dict[BreakerState, int] = {"closed": 0, "half_open": 1, "open": 2}


class CircuitBreaker:
    """Stop sending to a replica that keeps failing; probe again after ``reset_after`` seconds."""

    def __init__(self, failures: int, reset_after: float) -> None:
        self.threshold = failures
        self.reset_after = reset_after
        self.state: BreakerState = "closed"
        self.failures = 0
        self.opened_at = 0.0
        self._probing = False

    def can_try(self, now: float | None = None) -> bool:
        """Return True when a request may go to this replica now (no side effect)."""
        if self.state == "closed":
            return True
        if self.state == "open":
            return (time.monotonic() if now is None else now) - self.opened_at >= self.reset_after
        return not self._probing

    def acquire(self, now: float | None = None) -> None:
        """Note that a request is going out; an expired open breaker lets one probe through."""
        if self.state == "open" and self.can_try(now):
            self.state = "half_open"
        if self.state == "half_open":
            self._probing = True

    def success(self) -> None:
        """Close the breaker."""
        self.state = "closed"
        self.failures = 0
        self._probing = False

    def failure(self, now: float | None = None) -> None:
        """Count a failure; open on the threshold or when the half-open probe fails."""
        self.failures += 1
        if self.state == "half_open" or self.failures >= self.threshold:
            self.state = "open"
            self.opened_at = time.monotonic() if now is None else now
        self._probing = False

    @property
    def value(self) -> int:
        """Return 0 closed, 1 half-open, 2 open (the metrics gauge)."""
        return STATE_VALUE[self.state]
