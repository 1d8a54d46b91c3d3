"""An example llmops plugin: the ``no_digits`` guard and the ``shouting`` eval metric."""

from __future__ import annotations

import re
import time
from typing import Any

from pydantic import BaseModel, ConfigDict

from llmops.evals.metrics import BaseMetric, ItemContext
from llmops.evals.records import MetricResult
from llmops.guards import CheckContext, GuardInfo, GuardResult

_DIGITS = re.compile(r"\d")


class NoDigitsOptions(BaseModel):
    """Options of the ``no_digits`` guard."""

    model_config = ConfigDict(extra="forbid")

    mask: str = "#"


class NoDigits:
    """Fail on any digit; the fix masks them."""

    def __init__(self, name: str, options: NoDigitsOptions) -> None:
        self.name = name
        self.options = options

    def check(self, text: str, ctx: CheckContext) -> GuardResult:
        """Fail when ``text`` holds a digit."""
        start = time.perf_counter()
        found = _DIGITS.findall(text)
        return GuardResult(
            name=self.name,
            passed=not found,
            score=float(bool(found)),
            latency_ms=(time.perf_counter() - start) * 1000,
            fixed=_DIGITS.sub(self.options.mask, text) if found else None,
        )


def _no_digits(name: str, threshold: float | None, options: NoDigitsOptions, **_: Any) -> NoDigits:
    return NoDigits(name, options)


NO_DIGITS = GuardInfo(
    name="no_digits",
    stages=("input", "output"),
    options_model=NoDigitsOptions,
    factory=_no_digits,
    summary="Digits are not allowed (the fix masks them).",
)


class Shouting(BaseMetric):
    """1.0 when the answer is all upper case."""

    default_threshold = 1.0

    async def evaluate(self, ctx: ItemContext) -> MetricResult:
        """Score one answer."""
        answer = ctx.output.answer
        return self.result(float(answer.isupper()), "shouted" if answer.isupper() else "calm")
