"""Each llmops guard as a guardrails-ai ``Validator`` registered locally, composed with ``Guard``.

Validators are registered as ``llmops/<guard name>`` with ``@register_validator`` (no hub, no
token). ``configure_offline()`` (``llmops.offline.configure_guardrails``) runs before the first
``Guard`` is built so no metrics or remote inference are ever enabled. The validator stores the
full ``GuardResult`` in a collector passed through guardrails' ``metadata``; the pipeline reads
results from there, whether it calls the validators itself (``engine="direct"``) or through
``Guard.validate`` (``engine="guardrails"``).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from llmops.guards.base import CheckContext, Guard, GuardResult

if TYPE_CHECKING:
    from guardrails import Guard as GrGuard
    from guardrails.validator_base import Validator

__all__ = ["RESULTS_KEY", "CONTEXT_KEY", "build_guard", "make_validator", "validator_class"]

RESULTS_KEY = "llmops_results"
CONTEXT_KEY = "llmops_context"


@functools.cache
def validator_class(name: str) -> type[Validator]:
    """Return the guardrails Validator class registered as ``llmops/<name>``."""
    from llmops.offline import configure_guardrails

    configure_guardrails()  # before the first guardrails import: it checks nltk data on import

    from guardrails.validator_base import (
        ErrorSpan,
        FailResult,
        PassResult,
        Validator,
        register_validator,
    )

    class LlmopsValidator(Validator):  # type: ignore[misc]
        """Run one llmops guard inside guardrails."""

        def __init__(self, guard: Guard, **kwargs: Any) -> None:
            super().__init__(on_fail="noop", guard_name=guard.name, **kwargs)
            self.guard = guard

        def _validate(self, value: Any, metadata: dict[str, Any]) -> Any:
            ctx = metadata.get(CONTEXT_KEY) or CheckContext()
            result: GuardResult = self.guard.check(str(value), ctx)
            sink = metadata.get(RESULTS_KEY)
            if sink is not None:
                sink.append(result)
            if result.passed:
                return PassResult()
            return FailResult(
                error_message=f"{self.guard.name} failed (score {result.score})",
                fix_value=result.fixed,
                error_spans=[
                    ErrorSpan(start=s.start, end=s.end, reason=s.type) for s in result.spans
                ],
            )

    LlmopsValidator.__name__ = LlmopsValidator.__qualname__ = f"Llmops_{name}"
    registered: type[Validator] = register_validator(name=f"llmops/{name}", data_type="string")(
        LlmopsValidator
    )
    return registered


def make_validator(guard: Guard) -> Validator:
    """Wrap ``guard`` in its registered guardrails Validator."""
    return validator_class(guard.name)(guard)


def build_guard(validators: list[Validator]) -> GrGuard:
    """Compose validators with guardrails' ``Guard`` (one ``use`` call: a second replaces them)."""
    from guardrails import Guard as GrGuard

    from llmops.offline import configure_guardrails

    guard = GrGuard(history_max_length=1)
    guard.configure(allow_metrics_collection=False)
    configure_guardrails()  # Guard() re-reads ~/.guardrailsrc; switch metrics off again.
    if validators:
        guard.use(*validators)
    return guard
