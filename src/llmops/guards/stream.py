"""Output guards over a streamed answer, one sentence window at a time.

``feed(delta)`` appends to the current window and checks it as soon as a sentence ends (or the
window passes ``max_window`` characters), so memory is bounded by one window, not the answer.
Guards whose ``stream`` mode is ``final`` (JSON schema) need the whole answer and run in
``finish()``; only they keep the full text.

Two modes:

- pass-through (default when no output guard fixes): the caller forwards each delta at once;
  ``feed`` returns None, or a failing Verdict (``block``: end the stream with an error event;
  ``flag``: record it). The first token is never delayed.
- hold-back (default when an output guard has ``on_fail: fix``): text is released one checked
  window at a time; ``feed`` returns a Verdict whose ``text`` is what to send (fixed if needed).
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from llmops.guards.base import Action, CheckContext, GuardResult, Verdict

if TYPE_CHECKING:
    from llmops.guards.pipeline import GuardPipeline

__all__ = ["StreamGuard"]

_BOUNDARY = re.compile(r"[.!?\u3002\uff01\uff1f][\"')\]]*\s|\n")
_RANK = {"pass": 0, "flag": 1, "fix": 2, "block": 3}


class StreamGuard:
    """Incremental output checks for one streamed answer."""

    def __init__(
        self,
        pipeline: GuardPipeline,
        *,
        contexts: list[str] | None = None,
        hold_back: bool | None = None,
        max_window: int = 600,
        system_prompt: str | None = None,
    ) -> None:
        self.pipeline = pipeline
        specs = pipeline.guards("output")
        self.hold_back = any(s.on_fail == "fix" for s in specs) if hold_back is None else hold_back
        self.max_window = max_window
        self._ctx = CheckContext(
            stage="output",
            system_prompt=system_prompt or pipeline.system_prompt,
            contexts=list(contexts or []),
        )
        self._needs_full = any(
            b.info.stream == "final"
            for b in pipeline._stages["output"]  # noqa: SLF001
        )
        self._buf = ""
        self._full: list[str] = []
        self._results: list[GuardResult] = []
        self._blocked: Verdict | None = None
        self._start = time.perf_counter()
        self.windows = 0

    def _cut(self) -> int | None:
        last = None
        for m in _BOUNDARY.finditer(self._buf):
            last = m.end()
        if last is None and len(self._buf) >= self.max_window:
            space = self._buf.rfind(" ", 0, self.max_window)
            last = space + 1 if space > 0 else self.max_window
        return last

    def _verdict(self, text: str, results: list[GuardResult]) -> Verdict:
        action: Action = "pass"
        for r in results:
            if not r.passed and _RANK[r.on_fail or "block"] > _RANK[action]:
                action = r.on_fail  # type: ignore[assignment]
        return Verdict(
            passed=action == "pass",
            action=action,
            text=text,
            stage="output",
            results=results,
            latency_ms=sum(r.latency_ms for r in results),
        )

    def _check(self, window: str) -> Verdict | None:
        self.windows += 1
        results = self.pipeline.check_window(window, self._ctx, final=False)
        for r in results:
            r.details["window"] = self.windows
            if not self.hold_back and r.on_fail == "fix" and not r.passed:
                r.on_fail = "flag"  # already sent: record it, cannot take it back
                r.details["stream"] = "fix downgraded to flag in pass-through mode"
        failed = [r for r in results if not r.passed]
        text = window
        if self.hold_back and any(r.on_fail == "fix" for r in failed):
            text = self.pipeline.fix_window(window, results, self._ctx)
        self._results.extend(results)
        # Per window, only failures are news; finish() summarises every guard over the stream.
        verdict = self._verdict(text, failed)
        if verdict.action == "block":
            self._blocked = verdict
        if self.hold_back or failed:
            return verdict
        return None

    def feed(self, delta: str) -> Verdict | None:
        """Add streamed text; return a Verdict when a window was checked and has news."""
        if self._blocked is not None:
            return self._blocked
        self._buf += delta
        if self._needs_full:
            self._full.append(delta)
        cut = self._cut()
        if cut is None:
            return None
        window, self._buf = self._buf[:cut], self._buf[cut:]
        return self._check(window)

    def finish(self) -> Verdict:
        """Check the last window and the whole-answer guards; return the stream's verdict.

        ``results`` hold one summary per guard over all windows (passed only if every window
        passed; the highest score; all spans; summed latency). ``text`` is what is left to send
        in hold-back mode (empty in pass-through mode).
        """
        tail = ""
        if self._blocked is None:
            if self._buf.strip():
                last = self._check(self._buf)
                if self.hold_back:
                    tail = last.text if last is not None else self._buf
            elif self.hold_back:
                tail = self._buf
            self._buf = ""
            if self._needs_full:
                final = self.pipeline.check_window("".join(self._full), self._ctx, final=True)
                self._results.extend(final)
        verdict = self._verdict(tail, self.summary())
        if self._blocked is not None:
            verdict.action = "block"
            verdict.passed = False
        verdict.latency_ms = (time.perf_counter() - self._start) * 1000
        return verdict

    def summary(self) -> list[GuardResult]:
        """Return one merged result per guard over every window checked so far."""
        merged: dict[str, GuardResult] = {}
        for r in self._results:
            m = merged.get(r.name)
            if m is None:
                merged[r.name] = r.model_copy(
                    update={"details": {"windows": 1, "stream": True}, "spans": list(r.spans)}
                )
                continue
            m.passed = m.passed and r.passed
            m.score = max(m.score, r.score)
            m.latency_ms += r.latency_ms
            m.spans.extend(r.spans)
            m.details["windows"] += 1
            if not r.passed:
                m.on_fail = r.on_fail
        return list(merged.values())
