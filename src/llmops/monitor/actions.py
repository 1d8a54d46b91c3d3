"""What a firing alert does: log, webhook, re-index, re-run an eval slice, retrain a model.

Every action passes three gates before it runs, in this order, and the journal records the
outcome with the evidence that fired it (also when a gate stops it):

1. cool-down: no second run of the same action for the same route within ``cooldown`` (for
   notifications, log and webhook, per rule too);
2. budget: at most ``budget`` runs per ``budget_window``;
3. dry run: record what would run, run nothing.

Webhooks are JSON POSTs retried by the project's one retry policy (``llmops.transport.
RetryPolicy``: full-jitter exponential backoff, ``Retry-After`` honoured) on connection errors,
timeouts, 408, 429 and 5xx; waiting goes through an injectable ``sleep``. Runners are a small registry keyed by the
action ``type``, so another kind of action registers like the built-ins.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmops.monitor.journal import Journal
from llmops.monitor.settings import parse_duration
from llmops.registry import Registry

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.monitor.queries import Window
    from llmops.monitor.settings import ActionSpec
    from llmops.monitor.signals import Evaluator
    from llmops.traces.store import TraceStore

__all__ = ["ActionContext", "ActionOutcome", "register_action", "run_action"]

log = logging.getLogger("llmops.monitor")


@dataclass
class ActionContext:
    """Everything an action may need, handed over as one object."""

    settings: Settings
    store: TraceStore
    evaluator: Evaluator
    rule: str
    signal: str
    route: str
    window: Window
    evidence: dict[str, Any]
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


@dataclass
class ActionOutcome:
    """What happened to one action of one firing."""

    action: str
    type: str
    status: str  # done | failed | skipped | dry_run
    reason: str = ""
    result: dict[str, Any] = field(default_factory=dict)


Runner = Callable[["ActionSpec", ActionContext], dict[str, Any]]
_PER_RULE = ("log", "webhook")
#: How each action ``type`` runs; the built-ins are registered at the end of this module.
ACTIONS: Registry[Runner] = Registry("monitor action type", key="actions.type")


def register_action(kind: str, runner: Runner) -> None:
    """Register how actions of ``type: kind`` run."""
    ACTIONS.register(kind, runner)


def _gate(name: str, spec: ActionSpec, ctx: ActionContext, journal: Journal) -> str | None:
    now = ctx.clock()
    cooldown = parse_duration(spec.cooldown)
    # Notifications cool down per rule (two rules firing are two messages); a training trigger
    # per route, whichever rule fired it (one re-index, not one per rule).
    rule = ctx.rule if spec.type in _PER_RULE else None
    last = journal.last(name, ctx.route, ("done", "failed", "dry_run"), rule=rule)
    if last is not None and now - last.ts < cooldown:
        until = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(last.ts + cooldown))
        return (
            f"cool-down: '{name}' last ran {now - last.ts:.0f} s ago for route {ctx.route} "
            f"(rule {last.rule}, {last.status}); next allowed after {until} UTC"
        )
    if spec.budget is not None:
        span = parse_duration(spec.budget_window)
        used = journal.count(name, now - span, ("done", "failed"))
        if used >= spec.budget:
            return f"budget spent: {used} of {spec.budget} runs in the last {spec.budget_window}"
    return None


def run_action(name: str, spec: ActionSpec, ctx: ActionContext) -> ActionOutcome:
    """Run one action through its gates; journal and return the outcome."""
    journal = Journal(ctx.store)
    blocked = _gate(name, spec, ctx, journal)
    if blocked is not None:
        outcome = ActionOutcome(name, spec.type, "skipped", blocked)
        previous = journal.last(name, ctx.route, ("skipped",), rule=ctx.rule)
        repeat = previous is not None and previous.reason == blocked
        if not repeat:  # one row per distinct reason, not one per evaluation
            _journal(journal, outcome, ctx)
        return outcome
    if spec.dry_run:
        outcome = ActionOutcome(name, spec.type, "dry_run", f"dry run: would {_describe(spec)}")
    else:
        try:
            result = ACTIONS.get(spec.type)(spec, ctx)
            outcome = ActionOutcome(name, spec.type, "done", _describe(spec), result)
        except Exception as exc:  # noqa: BLE001 - a failed action is recorded, never fatal
            log.warning("action %s failed: %s", name, exc)
            reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            outcome = ActionOutcome(name, spec.type, "failed", str(reason)[:1000])
    _journal(journal, outcome, ctx)
    return outcome


def _journal(journal: Journal, outcome: ActionOutcome, ctx: ActionContext) -> None:
    journal.record(
        {
            "ts": ctx.clock(), "kind": "action", "rule": ctx.rule, "action": outcome.action,
            "route": ctx.route, "status": outcome.status, "reason": outcome.reason,
            "evidence": ctx.evidence, "result": outcome.result,
        }
    )  # fmt: skip


def _describe(spec: ActionSpec) -> str:
    return {
        "log": "log the alert",
        "webhook": f"POST the alert to {spec.url}",
        "reindex": f"re-index pipeline {spec.pipeline} ({spec.via})",
        "eval": f"re-run {spec.suite} on the drifted slice",
        "retrain": f"retrain model {spec.model}",
    }[spec.type]


# -- built-in runners ----------------------------------------------------------------------------


def _log(spec: ActionSpec, ctx: ActionContext) -> dict[str, Any]:
    log.warning(
        "alert %s fired on route %s (%s): %s", ctx.rule, ctx.route, ctx.signal,
        ctx.evidence.get("message", ""),
    )  # fmt: skip
    return {"logged": True}


def _webhook(spec: ActionSpec, ctx: ActionContext) -> dict[str, Any]:
    """POST the alert as JSON through the project's retry policy (``llmops.transport``)."""
    import asyncio

    import httpx

    from llmops.transport import RetryPolicy, status_error, transport_error

    url = spec.url or ""
    who = f"webhook {url}"
    payload = {
        "rule": ctx.rule, "signal": ctx.signal, "route": ctx.route, "fired_at": ctx.clock(),
        "window": ctx.window.as_dict(), "evidence": ctx.evidence,
    }  # fmt: skip
    attempts = 0

    async def sleep(seconds: float) -> None:
        ctx.sleep(seconds)  # injected: tests record the backoff instead of waiting

    policy = RetryPolicy(
        attempts=spec.retries + 1, backoff=spec.backoff, max_backoff=60.0, sleep=sleep
    )

    async def deliver() -> int:
        async with httpx.AsyncClient(timeout=spec.timeout) as client:

            async def attempt() -> int:
                nonlocal attempts
                attempts += 1
                try:
                    response = await client.post(url, json=payload, headers=spec.headers)
                except httpx.TimeoutException as exc:
                    raise transport_error(who, TimeoutError(str(exc))) from exc
                except httpx.TransportError as exc:
                    raise transport_error(who, exc) from exc
                if response.status_code >= 400:
                    raise status_error(
                        who, response.status_code, response.content, response.headers
                    )
                return response.status_code

            return await policy.run(attempt)

    status = asyncio.run(deliver())
    return {"status": status, "attempts": attempts}


def _reindex(spec: ActionSpec, ctx: ActionContext) -> dict[str, Any]:
    import os

    if spec.via == "gateway":
        import httpx

        key = os.environ.get(spec.api_key_env, "")
        url = f"{(spec.gateway_url or '').rstrip('/')}/admin/index/{spec.pipeline}/run"
        response = httpx.post(
            url, params={"full": str(spec.full).lower()},
            headers={"authorization": f"Bearer {key}"} if key else {}, timeout=3600,
        )  # fmt: skip
        response.raise_for_status()
        return {"via": "gateway", **response.json()}
    from llmops.rag import Pipeline

    pipe = Pipeline.from_name(spec.pipeline or "", ctx.settings)
    before = pipe.changed_files()
    result = pipe.run(full=spec.full)
    out: dict[str, Any] = {
        "via": "local",
        "pipeline": result.pipeline,
        "index_version": result.index_version,
        "previous_version": result.previous_version,
        "switched": result.switched,
        "collection": result.collection,
        "changed_files": before,
        "counts": result.counts,
    }
    try:  # this process owns the store now: the new version's coverage threshold is cheap
        from llmops.monitor.coverage import compute_coverage

        out["coverage"] = compute_coverage(ctx.settings, result.pipeline, result.index_version)
    except Exception as exc:  # noqa: BLE001 - the re-index itself succeeded
        out["coverage"] = f"not computed: {exc}"
    return out


def _eval(spec: ActionSpec, ctx: ActionContext) -> dict[str, Any]:
    from llmops.monitor.slice import run_slice

    return run_slice(spec, ctx)


def _retrain(spec: ActionSpec, ctx: ActionContext) -> dict[str, Any]:
    from llmops.mlmodels.monitor import run_drift_rule
    from llmops.mlmodels.spec import find_spec

    model_spec = find_spec(spec.model or "", ctx.settings.path("models"))
    result = run_drift_rule(model_spec, ctx.settings, retrain=True)
    return result.to_dict()


for _kind, _runner in (
    ("log", _log),
    ("webhook", _webhook),
    ("reindex", _reindex),
    ("eval", _eval),
    ("retrain", _retrain),
):
    register_action(_kind, _runner)
