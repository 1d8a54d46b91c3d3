"""Run the configured guards of a route on input messages, retrieved contexts and output.

``GuardPipeline.from_config(config, system_prompt=...)`` builds each guard once (models are
loaded by ``warm()``), wraps it as a guardrails Validator, and per stage either calls the
validators directly (``engine="direct"``, the default: the gateway's hot path) or composes them
with guardrails' ``Guard.validate`` (``engine="guardrails"``), which adds about 2-4 ms per call
on our 2-core machine (see ``benchmarks/bench_guards.py``). Both engines give the same verdict.

Policies: a failed guard with ``block`` makes the verdict ``block``; ``fix`` applies the guard's
repair (a fix-policy guard that cannot repair this text escalates to ``block``); ``flag`` only
records. Precedence: block > fix > flag > pass.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from llmops.errors import GuardrailBlockedError
from llmops.guards.base import Action, CheckContext, Guard, GuardResult, Verdict, clean_text
from llmops.guards.config import GuardsConfig, GuardSpec
from llmops.guards.registry import GuardInfo, Stage, get_guard_info
from llmops.providers.base import message_text

if TYPE_CHECKING:
    from llmops.guards.stream import StreamGuard

__all__ = ["Engine", "GuardPipeline", "context_text", "message_text"]

Engine = Literal["direct", "guardrails"]
_RANK: dict[str, int] = {"pass": 0, "flag": 1, "fix": 2, "block": 3}


def context_text(context: str | dict[str, Any]) -> str:
    """Return the text of a retrieved context given as a string or a ``{"text": ...}`` dict."""
    if isinstance(context, str):
        return context
    return str(context.get("text") or context.get("content") or "")


@dataclass
class _Bound:
    spec: GuardSpec
    info: GuardInfo
    guard: Guard
    validator: Any


class GuardPipeline:
    """The guards of one route, ready to run."""

    def __init__(
        self,
        config: GuardsConfig,
        *,
        system_prompt: str | None = None,
        engine: Engine | None = None,
        input_roles: tuple[str, ...] = ("user", "tool"),
    ) -> None:
        from llmops.guards.validators import make_validator

        self.config = config
        self.system_prompt = system_prompt
        self.engine: Engine = engine or config.engine
        self.input_roles = input_roles
        self._stages: dict[str, list[_Bound]] = {}
        self._composed: dict[tuple[str, tuple[int, ...]], Any] = {}
        for stage in ("input", "contexts", "output"):
            bound = []
            for spec in getattr(config, stage):
                info = get_guard_info(spec.name)
                guard = info.factory(spec.name, spec.threshold, spec.parsed_options())
                bound.append(_Bound(spec, info, guard, make_validator(guard)))
            self._stages[stage] = bound

    @classmethod
    def from_config(
        cls, config: GuardsConfig, system_prompt: str | None = None, **kwargs: Any
    ) -> GuardPipeline:
        """Build the pipeline for a route's ``guards:`` config."""
        return cls(config, system_prompt=system_prompt, **kwargs)

    def warm(self) -> None:
        """Load models and embed corpora now, not on the first request."""
        for bound in self._stages.values():
            for b in bound:
                warm = getattr(b.guard, "warm", None)
                if warm is not None:
                    warm()

    def guards(self, stage: Stage) -> list[GuardSpec]:
        """Return the specs configured on ``stage``."""
        return [b.spec for b in self._stages[stage]]

    # -- running -------------------------------------------------------------------------
    def _run(
        self, stage: str, text: str, ctx: CheckContext, only: list[_Bound] | None = None
    ) -> list[GuardResult]:
        bound = self._stages[stage] if only is None else only
        if not bound:
            return []
        results: list[GuardResult] = []
        metadata: dict[str, Any] = {"llmops_results": results, "llmops_context": ctx}
        if self.engine == "guardrails":
            composed = self._composed_for(stage, bound)
            composed.validate(text, metadata=metadata)
            # guardrails keeps recent calls (inputs and metadata) in Guard.history; the PII map
            # must not outlive the request.
            composed.history.clear()
        else:
            for b in bound:
                b.validator.validate(text, metadata)
        by_name = {b.spec.name: b.spec for b in bound}
        for result in results:
            result.on_fail = by_name[result.name].on_fail
        # guardrails may finish validators in any order: report them in the configured order.
        order = {b.spec.name: i for i, b in enumerate(bound)}
        results.sort(key=lambda r: order[r.name])
        return results

    def _composed_for(self, stage: str, bound: list[_Bound]) -> Any:
        from llmops.guards.validators import build_guard

        key = (stage, tuple(id(b) for b in bound))
        if key not in self._composed:
            self._composed[key] = build_guard([b.validator for b in bound])
        return self._composed[key]

    def _fix(
        self, stage: str, text: str, results: list[GuardResult], ctx: CheckContext
    ) -> tuple[str, list[GuardResult]]:
        """Apply every failed fix-policy guard in order; escalate to block when one cannot fix."""
        for b in self._stages[stage]:
            failed = [r for r in results if r.name == b.spec.name and not r.passed]
            if not failed or b.spec.on_fail != "fix":
                continue
            again = b.guard.check(text, ctx) if text else failed[0]
            if again.passed:
                continue
            if again.fixed is None:
                for r in failed:
                    r.on_fail = "block"
                    r.details["escalated"] = "fix not possible"
                continue
            text = again.fixed
        return text, results

    @staticmethod
    def _action(results: list[GuardResult]) -> Action:
        action: Action = "pass"
        for r in results:
            if not r.passed and _RANK[r.on_fail or "block"] > _RANK[action]:
                action = r.on_fail  # type: ignore[assignment]
        return action

    def _verdict(
        self, stage: str, text: str, results: list[GuardResult], start: float, **extra: Any
    ) -> Verdict:
        action = self._action(results)
        return Verdict(
            passed=action == "pass",
            action=action,
            text=text,
            stage=stage,
            results=results,
            latency_ms=(time.perf_counter() - start) * 1000,
            **extra,
        )

    def check_text(self, text: str, stage: Stage = "input") -> Verdict:
        """Run one stage's guards on a single text (the CLI's ``guard check``)."""
        if stage == "input":
            return self.check_input([{"role": "user", "content": text}])
        if stage == "contexts":
            return self.check_contexts([text])
        return self.check_output(text)

    def check_input(self, messages: list[dict[str, Any]]) -> Verdict:
        """Check the request's messages (user and tool roles); fixes redact/truncate copies."""
        start = time.perf_counter()
        texts = [clean_text(message_text(m)) for m in messages]
        checked = [i for i, m in enumerate(messages) if m.get("role", "user") in self.input_roles]
        ctx = CheckContext(stage="input", system_prompt=self.system_prompt, messages=texts)
        per_message = [b for b in self._stages["input"] if not b.info.request_level]
        per_request = [b for b in self._stages["input"] if b.info.request_level]
        results: list[GuardResult] = []
        fixed = [dict(m) for m in messages]
        for i, m in enumerate(messages):
            if isinstance(m.get("content"), str) and texts[i] != m["content"]:
                fixed[i]["content"] = texts[i]  # lone surrogates replaced: valid UTF-8 onwards
        for i in checked:
            found = self._run("input", texts[i], ctx, per_message)
            for r in found:
                r.details["message"] = i
            if any(not r.passed and r.on_fail == "fix" for r in found):
                fixed[i]["content"] = self._fix("input", texts[i], found, ctx)[0]
            results.extend(found)
        if per_request and checked:
            longest = max(checked, key=lambda i: len(texts[i]))
            found = self._run("input", message_text(fixed[longest]), ctx, per_request)
            for r in found:
                r.details["message"] = longest
            if any(not r.passed and r.on_fail == "fix" for r in found):
                current = message_text(fixed[longest])
                fixed[longest]["content"] = self._fix("input", current, found, ctx)[0]
            results.extend(found)
        final_text = message_text(fixed[checked[-1]]) if checked else ""
        verdict = self._verdict("input", final_text, results, start, messages=fixed)
        verdict.set_pii_map(ctx.scratch.get("pii_map", {}))
        return verdict

    def check_contexts(self, contexts: Sequence[str | dict[str, Any]]) -> Verdict:
        """Check retrieved documents for indirect injection; fix drops the failing ones."""
        start = time.perf_counter()
        ctx = CheckContext(stage="contexts", system_prompt=self.system_prompt)
        results: list[GuardResult] = []
        kept: list[str] = []
        for i, item in enumerate(contexts):
            context = context_text(item)
            found = self._run("contexts", clean_text(context), ctx)
            chunk = item.get("id") if isinstance(item, dict) else None
            for r in found:
                r.details["context"] = i
                if chunk is not None:
                    r.details["chunk_id"] = str(chunk)  # the trace names the retrieved chunk
            results.extend(found)
            if not any(not r.passed and r.on_fail == "fix" for r in found):
                kept.append(context)
        return self._verdict("contexts", "", results, start, contexts=kept)

    def check_output(
        self,
        text: str,
        contexts: Sequence[str | dict[str, Any]] | None = None,
        *,
        system_prompt: str | None = None,
    ) -> Verdict:
        """Check a whole answer (system-prompt leak, PII, groundedness, JSON schema)."""
        start = time.perf_counter()
        text = clean_text(text)
        ctx = CheckContext(
            stage="output",
            system_prompt=system_prompt or self.system_prompt,
            contexts=[context_text(c) for c in contexts or []],
        )
        results = self._run("output", text, ctx)
        if any(not r.passed and r.on_fail == "fix" for r in results):
            text, results = self._fix("output", text, results, ctx)
        return self._verdict("output", text, results, start)

    def check_window(self, text: str, ctx: CheckContext, final: bool) -> list[GuardResult]:
        """Run the output guards suited to a stream window (``final``: the whole-answer ones)."""
        only = [b for b in self._stages["output"] if (b.info.stream == "final") == final]
        return self._run("output", text, ctx, only) if only else []

    def fix_window(self, text: str, results: list[GuardResult], ctx: CheckContext) -> str:
        """Apply fix policies to one stream window."""
        return self._fix("output", text, results, ctx)[0]

    def stream_guard(
        self,
        contexts: Sequence[str | dict[str, Any]] | None = None,
        *,
        hold_back: bool | None = None,
        system_prompt: str | None = None,
    ) -> StreamGuard:
        """Return an incremental output checker for one streamed answer."""
        from llmops.guards.stream import StreamGuard

        return StreamGuard(
            self,
            contexts=[context_text(c) for c in contexts or []],
            hold_back=hold_back,
            system_prompt=system_prompt,
        )

    @staticmethod
    def raise_for(verdict: Verdict) -> None:
        """Raise GuardrailBlockedError when ``verdict`` blocks."""
        blocker = verdict.blocked_by
        if blocker is not None and verdict.code is not None:
            raise GuardrailBlockedError(
                f"request blocked by guard '{blocker.name}' (score {blocker.score})",
                code=verdict.code,
                score=blocker.score,
            )
