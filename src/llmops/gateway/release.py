"""Release strategies: pick the arm of a canary or A/B split, decide on shadow calls.

Assignment is sticky when the route says so: the same ``user`` (or session header) lands on the
same arm as long as the weights do not change, because the draw is a hash, not a coin.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from llmops.gateway.config import ArmConfig, ReleaseConfig

__all__ = ["Assignment", "choose_arm", "sticky_point", "take_shadow"]


@dataclass(frozen=True, slots=True)
class Assignment:
    """The arm a request was given (None arm = the route itself)."""

    strategy: str | None
    arm: ArmConfig | None

    @property
    def name(self) -> str | None:
        """Return the arm name."""
        return self.arm.name if self.arm else None


def sticky_point(route: str, key: str) -> float:
    """Map ``key`` to a stable point in [0, 1) for ``route``."""
    digest = hashlib.sha256(f"{route}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _sticky_key(release: ReleaseConfig, user: str | None, headers: dict[str, str]) -> str | None:
    if release.sticky == "user":
        return user or None
    if release.sticky and release.sticky.startswith("header:"):
        return headers.get(release.sticky[len("header:") :].lower()) or None
    return None


def choose_arm(
    route: str, release: ReleaseConfig | None, user: str | None, headers: dict[str, str]
) -> Assignment:
    """Return the arm for a request (weighted; sticky by user or header when configured)."""
    if release is None or release.strategy == "shadow" or not release.arms:
        return Assignment(release.strategy if release else None, None)
    key = _sticky_key(release, user, headers)
    point = sticky_point(route, key) if key is not None else random.random()  # noqa: S311
    total = sum(a.weight for a in release.arms)
    edge = 0.0
    for arm in release.arms:
        edge += arm.weight / total
        if point < edge:
            return Assignment(release.strategy, arm)
    return Assignment(release.strategy, release.arms[-1])


def take_shadow(release: ReleaseConfig | None) -> bool:
    """Return True when this request should also go to the shadow candidate."""
    if release is None or release.shadow is None:
        return False
    return random.random() < release.shadow.share  # noqa: S311 - sampling, not crypto
