"""A circuit breaker per replica: closed, open after N consecutive failures, then one probe.

Listeners (``on_open``) hear when this breaker opens on its own failures; ``trip`` opens it
because another gateway replica's breaker on the same upstream opened (``shared_state``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
        #: Called with this breaker when it opens on its own failures (not on ``trip``).
        self.on_open: list[Callable[[CircuitBreaker], None]] = []

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
        self._probing = False
        if self.state == "half_open" or self.failures >= self.threshold:
            opening = self.state != "open"
            self.state = "open"
            self.opened_at = time.monotonic() if now is None else now
            for listener in self.on_open if opening else ():
                listener(self)

    def trip(self, seconds: float, now: float | None = None) -> None:
        """Open for ``seconds`` (then probe as usual) unless already open for longer."""
        now = time.monotonic() if now is None else now
        opened_at = now - max(0.0, self.reset_after - seconds)
        if self.state == "open" and self.opened_at >= opened_at:
            return
        self.state = "open"
        self.opened_at = opened_at
        self._probing = False

    def remaining(self, now: float | None = None) -> float:
        """Return seconds until an open breaker lets a probe through (0 when not open)."""
        if self.state != "open":
            return 0.0
        elapsed = (time.monotonic() if now is None else now) - self.opened_at
        return max(0.0, self.reset_after - elapsed)

    @property
    def value(self) -> int:
        """Return 0 closed, 1 half-open, 2 open (the metrics gauge)."""
        return STATE_VALUE[self.state]
