"""The one retry policy: what is retried, how long it waits, when it gives up, and nesting.

Waiting is injected (``RetryPolicy(sleep=...)`` records the delays): nothing here sleeps.
"""

from __future__ import annotations

import asyncio
import email.utils

import pytest

from llmops.errors import UpstreamConnectError, UpstreamError
from llmops.testing import ManualClock
from llmops.transport import GiveUp, RetryPolicy, parse_retry_after


class Script:
    """An attempt that fails with the scripted errors, then answers."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def _run(policy: RetryPolicy, script: Script, **kw: object) -> str:
    return asyncio.run(policy.run(script, **kw))  # type: ignore[arg-type]


def err(status: int | None = None, retry_after: float | None = None) -> UpstreamError:
    kind = UpstreamConnectError if status is None else UpstreamError
    return kind(f"HTTP {status}", status=status, retry_after=retry_after)


def test_retryable_errors_are_retried_with_jittered_exponential_backoff() -> None:
    clock = ManualClock()
    policy = RetryPolicy(attempts=4, backoff=0.5, max_backoff=0.75, sleep=clock.sleep)
    seen: list[tuple[int | None, int]] = []
    script = Script(err(503), err(None), err(408))
    assert _run(policy, script, on_retry=lambda e, d, n: seen.append((e.status, n))) == "ok"
    assert script.calls == 4
    assert seen == [(503, 1), (None, 2), (408, 3)]
    # full jitter: U(0, backoff * 2^n) capped at max_backoff
    assert 0 <= clock.waits[0] <= 0.5 and 0 <= clock.waits[1] <= 0.75
    assert 0 <= clock.waits[2] <= 0.75


def test_retry_after_is_waited_exactly() -> None:
    clock = ManualClock()
    policy = RetryPolicy(attempts=3, backoff=0.01, sleep=clock.sleep)
    assert _run(policy, Script(err(429, retry_after=7.0))) == "ok"
    assert clock.waits == [7.0]


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_beyond_the_limit_fails_at_once_and_keeps_the_value(status: int) -> None:
    clock = ManualClock()
    policy = RetryPolicy(attempts=5, max_retry_after=10.0, sleep=clock.sleep)
    script = Script(err(status, retry_after=10.0), err(status, retry_after=30.0), err(500))
    with pytest.raises(UpstreamError) as info:
        _run(policy, script)
    # 10 s is within the limit: waited; 30 s is not: no wait, no further attempt
    assert clock.waits == [10.0]
    assert script.calls == 2
    assert info.value.status == status and info.value.retry_after == 30.0


def test_a_long_retry_after_on_the_first_attempt_makes_one_attempt() -> None:
    clock = ManualClock()
    policy = RetryPolicy(attempts=3, max_retry_after=1.0, sleep=clock.sleep)
    script = Script(err(429, retry_after=120.0))
    with pytest.raises(UpstreamError):
        _run(policy, script)
    assert (script.calls, clock.waits) == (1, [])


def test_retry_after_is_ignored_when_not_honoured() -> None:
    clock = ManualClock()
    policy = RetryPolicy(
        attempts=2, backoff=0.1, max_backoff=0.1, honour_retry_after=False, sleep=clock.sleep
    )
    assert _run(policy, Script(err(429, retry_after=300.0))) == "ok"
    assert len(clock.waits) == 1 and clock.waits[0] <= 0.1


def test_attempts_run_out_and_the_last_error_is_raised() -> None:
    clock = ManualClock()
    script = Script(err(500), err(502), err(504), err(503))
    with pytest.raises(UpstreamError) as info:
        _run(RetryPolicy(attempts=3, sleep=clock.sleep), script)
    assert script.calls == 3 and info.value.status == 504 and len(clock.waits) == 2


@pytest.mark.parametrize(
    "error", [err(400), err(401), err(404), ValueError("a bug, not an upstream failure")]
)
def test_what_cannot_be_fixed_by_retrying_is_raised_at_once(error: BaseException) -> None:
    clock = ManualClock()
    script = Script(error)
    with pytest.raises(type(error)):
        _run(RetryPolicy(attempts=3, sleep=clock.sleep), script)
    assert script.calls == 1 and clock.waits == []


def test_give_up_ends_the_retries_with_its_error() -> None:
    clock = ManualClock()
    final = err(401)
    script = Script(err(503), GiveUp(final))
    with pytest.raises(UpstreamError) as info:
        _run(RetryPolicy(attempts=5, sleep=clock.sleep), script)
    assert info.value is final and script.calls == 2
    # also on the first attempt (outside tenacity)
    with pytest.raises(UpstreamError) as first:
        _run(RetryPolicy(attempts=5, sleep=clock.sleep), Script(GiveUp(final)))
    assert first.value is final


def test_nested_policies_do_not_multiply() -> None:
    clock = ManualClock()
    inner_policy = RetryPolicy(attempts=3, sleep=clock.sleep)
    outer_policy = RetryPolicy(attempts=2, sleep=clock.sleep)
    always = Script(*[err(503) for _ in range(20)])

    async def outer_attempt() -> str:
        return await inner_policy.run(always)

    with pytest.raises(UpstreamError):
        asyncio.run(outer_policy.run(outer_attempt))
    # 2 outer attempts x 1 inner attempt each, not 2 x 3
    assert always.calls == 2
    # alone, the inner policy retries as configured
    alone = Script(*[err(503) for _ in range(20)])
    with pytest.raises(UpstreamError):
        asyncio.run(inner_policy.run(alone))
    assert alone.calls == 3


def test_one_attempt_policy() -> None:
    script = Script(err(503))
    with pytest.raises(UpstreamError):
        _run(RetryPolicy.never(), script)
    assert script.calls == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),
        ("0.5", 0.5),
        (" 2 ", 2.0),
        ("-3", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        # an HTTP date, 90 s after the injected clock
        (email.utils.formatdate(1_800_000_090, usegmt=True), 90.0),
        # a date in the past means "now"
        (email.utils.formatdate(1_799_999_000, usegmt=True), 0.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=1_800_000_000.0) == expected
