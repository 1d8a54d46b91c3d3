"""A clock a test moves by hand, for code that takes a clock or a sleep function."""

from __future__ import annotations

import time

__all__ = ["ManualClock"]


class ManualClock:
    """A monotonic clock that moves only when told (starts at the real one unless ``start``).

    Pass the clock itself where code takes ``clock: Callable[[], float]`` (breakers, limiters,
    caches) and ``clock.sleep`` where it takes an async sleep (retry policies): each wait is
    recorded in ``waits`` and moves the clock, and nothing really sleeps.
    """

    def __init__(self, start: float | None = None) -> None:
        self.now = time.monotonic() if start is None else start
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move this clock ``seconds`` forward."""
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        """Record the wait and move the clock past it."""
        self.waits.append(seconds)
        self.now += seconds
