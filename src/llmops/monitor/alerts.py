"""Alert rules: a signal judged over the last m windows, firing when k of them are bad.

A window is bad when the signal crosses the rule's condition: ``above``/``below`` a value (for
rates, by default the Wilson bound must cross it: ``above`` compares the lower bound, so a noisy
quiet hour does not fire), or, for tests, a rejection at ``significance`` with an effect large
enough to matter. A window without data (or with too few observations) is neither bad nor good:
it is reported as such and never counts towards k. When a rule fires its actions run through
their gates (``llmops.monitor.actions``) and the journal keeps the evidence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmops.monitor.actions import ActionContext, ActionOutcome, run_action
from llmops.monitor.journal import Journal
from llmops.monitor.queries import Window, routes_in
from llmops.monitor.settings import SIGNALS, ActionSpec, AlertRule, parse_duration
from llmops.monitor.signals import Evaluator, SignalValue

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.traces.store import TraceStore

__all__ = ["RuleOutcome", "evaluate_rules", "is_bad"]

_LOG = ActionSpec(type="log", cooldown="1s")
_VERDICT_STATUSES = ("ok", "drift", "no_drift")


@dataclass
class RuleOutcome:
    """One rule on one route: its windows, whether it fired, what its actions did."""

    rule: str
    signal: str
    route: str
    windows: list[dict[str, Any]]
    bad: int
    fired: bool
    actions: list[ActionOutcome] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        from dataclasses import asdict

        return asdict(self)


def is_bad(rule: AlertRule, value: SignalValue) -> bool | None:
    """Return whether ``value`` breaks ``rule`` (None: no verdict for this window)."""
    if value.status not in _VERDICT_STATUSES:
        return None
    if rule.significance is not None:
        if value.p_value is None:
            return None
        return value.p_value < rule.significance and bool(value.evidence.get("effect_ok", True))
    if value.value is None:
        return None
    kind = SIGNALS[rule.signal]
    use_bound = kind == "rate" and rule.confidence == "interval"
    if rule.above is not None:
        seen = value.low if use_bound and value.low is not None else value.value
        return seen > rule.above
    assert rule.below is not None
    seen = value.high if use_bound and value.high is not None else value.value
    return seen < rule.below


def _evidence(
    ev: Evaluator, rule: AlertRule, route: str, window: Window, value: SignalValue
) -> dict[str, Any]:
    import sqlalchemy as sa

    evidence: dict[str, Any] = {"message": value.message, "signal": value.as_dict()}
    if rule.signal in ("unsupported_rate", "judge_unfaithful_rate"):
        t = ev.store.table
        flag = t.c.unsupported == sa.true()
        if rule.signal == "judge_unfaithful_rate":
            flag = t.c.judge_faithfulness < 0.5
        stmt = (
            sa.select(t.c.request_id, t.c.question, t.c.answer)
            .where(t.c.sampled == sa.true(), t.c.route == route, flag)
            .where(t.c.ts >= window.start, t.c.ts < window.end)
            .order_by(t.c.ts.desc())
            .limit(5)
        )
        with ev.store.engine.connect() as conn:
            evidence["examples"] = [
                {"request_id": r[0], "question": r[1], "answer": (r[2] or "")[:300]}
                for r in conn.execute(stmt)
            ]
    return evidence


def evaluate_rules(
    store: TraceStore,
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    evaluator: Evaluator | None = None,
    only: str | None = None,
) -> list[RuleOutcome]:
    """Evaluate every rule (or rule ``only``) now; run the actions of those that fire."""
    now = clock()
    ev = evaluator or Evaluator(store, settings, clock=clock)
    journal = Journal(store)
    outcomes: list[RuleOutcome] = []
    for rule in settings.monitor.alerts:
        if only is not None and rule.name != only:
            continue
        span = parse_duration(rule.window)
        latest = Window(now - span, now)
        routes = [rule.route] if rule.route else routes_in(store, Window(now - rule.m * span, now))
        for route in routes:
            windows, bad = [], 0
            for step in range(rule.m):
                window = latest.shifted(step)
                value = ev.signal(rule.signal, route, window)
                verdict = is_bad(rule, value)
                bad += int(bool(verdict))
                windows.append(
                    {"window": window.as_dict(), "bad": verdict, **value.as_dict()}
                )  # fmt: skip
            outcome = RuleOutcome(rule.name, rule.signal, route, windows, bad, bad >= rule.k)
            outcomes.append(outcome)
            if not outcome.fired:
                continue
            evidence = _evidence(ev, rule, route, latest, ev.signal(rule.signal, route, latest))
            evidence["windows"] = windows
            evidence["k_of_m"] = f"{bad} of the last {rule.m} windows bad (k = {rule.k})"
            journal.record(
                {
                    "ts": now, "kind": "alert", "rule": rule.name, "route": route,
                    "status": "fired", "reason": evidence["k_of_m"], "evidence": evidence,
                }
            )  # fmt: skip
            ctx = ActionContext(
                settings=settings, store=store, evaluator=ev, rule=rule.name,
                signal=rule.signal, route=route, window=latest, evidence=evidence,
                clock=clock, sleep=sleep,
            )  # fmt: skip
            for name in rule.actions:
                spec = settings.monitor.actions.get(name) or _LOG
                outcome.actions.append(run_action(name, spec, ctx))
    return outcomes
