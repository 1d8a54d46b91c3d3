"""Hook points where guards run in the request path (filled by ``llmops.guards``).

The gateway's stages, in order: auth -> limits -> input guards -> retrieval -> context guards
(indirect injection) -> render -> upstream -> output guards (whole answer, or incrementally on
a stream) -> trace. A route without guards pays nothing: ``RouteGuards`` is None for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from llmops.guards.config import GuardsConfig

__all__ = [
    "TOOL_ARGUMENT_GUARDS",
    "GuardOutcome",
    "RouteGuards",
    "StreamChecker",
    "build_route_guards",
    "system_text",
]

#: Output guards that also check tool-call arguments (a plugin guard opts in with the tag
#: ``tool_arguments``). The others (groundedness, JSON schema...) judge the answer's text only.
TOOL_ARGUMENT_GUARDS = frozenset({"pii", "system_prompt_leak"})


@dataclass(slots=True)
class GuardOutcome:
    """What a guard stage decided: pass, block (with a code), fix (with new text) or flag."""

    action: str
    text: str | None = None
    code: str | None = None
    message: str | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    #: Input fixes: the request's messages with every fix applied (not only the last turn).
    messages: list[dict[str, Any]] | None = None
    #: Context fixes: indices of retrieved contexts to drop before rendering.
    dropped: list[int] = field(default_factory=list)
    #: Output blocks a re-ask can repair: the one follow-up message to send upstream.
    reask: str | None = None

    @property
    def blocked(self) -> bool:
        """Return True when the request must be refused."""
        return self.action == "block"


class StreamChecker(Protocol):
    """Checks a streamed answer piece by piece.

    With ``hold_back`` False the caller sends each delta as it comes; with True it sends only
    the text of the outcomes (checked, possibly fixed, one sentence window at a time).
    """

    hold_back: bool

    def feed(self, delta: str) -> GuardOutcome | None:
        """Return an outcome when a window of text was checked, else None."""
        ...

    def finish(self) -> GuardOutcome:
        """Check what is left at the end of the stream."""
        ...


class RouteGuards(Protocol):
    """The guards of one route, as the gateway calls them (synchronously, in a worker thread)."""

    def check_input(self, messages: list[dict[str, Any]]) -> GuardOutcome:
        """Check the user's messages."""
        ...

    def check_contexts(self, contexts: list[dict[str, Any]]) -> GuardOutcome:
        """Check retrieved contexts for indirect prompt injection."""
        ...

    def check_output(
        self, text: str, contexts: list[dict[str, Any]] | None, system_prompt: str | None = None
    ) -> GuardOutcome:
        """Check a whole answer."""
        ...

    def stream_checker(
        self, contexts: list[dict[str, Any]] | None, system_prompt: str | None = None
    ) -> StreamChecker | None:
        """Return a checker for a streamed answer, or None when no output guard runs."""
        ...

    def check_tool_arguments(
        self, arguments: str, system_prompt: str | None = None
    ) -> GuardOutcome:
        """Check a tool call's arguments (PII, system-prompt leaks)."""
        ...

    @property
    def has_output(self) -> bool:
        """Return True when output guards are configured."""
        ...

    @property
    def has_tool_arguments(self) -> bool:
        """Return True when some output guard also checks tool-call arguments."""
        ...


def _outcome(verdict: Any) -> GuardOutcome:
    results = [r.model_dump(mode="json") for r in getattr(verdict, "results", [])]
    blocker = getattr(verdict, "blocked_by", None)
    return GuardOutcome(
        verdict.action,
        text=getattr(verdict, "text", None),
        code=verdict.code if verdict.action == "block" else None,
        message=(f"request blocked by guard '{blocker.name}'" if blocker is not None else None),
        results=results,
        messages=getattr(verdict, "messages", None),
        reask=(blocker.details.get("reask") if blocker is not None else None),
        dropped=sorted(
            {
                int(r["details"]["context"])
                for r in results
                if not r["passed"] and r.get("on_fail") == "fix" and "context" in r["details"]
            }
        ),
    )


def system_text(
    messages: list[dict[str, Any]], contexts: list[dict[str, Any]] | None
) -> str | None:
    """Return the system messages' text minus retrieved contexts (quoting those is no leak)."""
    parts = [m.get("content") for m in messages if m.get("role") in ("system", "developer")]
    text = "\n".join(p for p in parts if isinstance(p, str))
    for c in contexts or []:
        if c.get("text"):
            text = text.replace(str(c["text"]), " ")
    return text or None


class _PipelineGuards:
    """Adapter from ``llmops.guards.GuardPipeline`` verdicts to gateway outcomes."""

    def __init__(self, config: GuardsConfig, system_prompt: str | None) -> None:
        from llmops.guards import GuardPipeline
        from llmops.guards.config import GuardsConfig
        from llmops.guards.registry import get_guard_info

        self.config = config
        self.pipeline = GuardPipeline.from_config(config, system_prompt=system_prompt)
        self.pipeline.warm()  # load the model at start-up, not on the first request
        on_arguments = [
            spec
            for spec in config.output
            if spec.name in TOOL_ARGUMENT_GUARDS
            or "tool_arguments" in get_guard_info(spec.name).tags
        ]
        self.tool_pipeline = (
            GuardPipeline.from_config(
                GuardsConfig(output=on_arguments), system_prompt=system_prompt
            )
            if on_arguments
            else None
        )

    @property
    def has_output(self) -> bool:
        return bool(self.config.output)

    @property
    def has_tool_arguments(self) -> bool:
        return self.tool_pipeline is not None

    def warm(self) -> None:
        """Load models now rather than on the first request."""
        self.pipeline.warm()
        if self.tool_pipeline is not None:
            self.tool_pipeline.warm()

    def check_tool_arguments(
        self, arguments: str, system_prompt: str | None = None
    ) -> GuardOutcome:
        if self.tool_pipeline is None:
            return GuardOutcome("pass")
        return _outcome(self.tool_pipeline.check_output(arguments, system_prompt=system_prompt))

    def check_input(self, messages: list[dict[str, Any]]) -> GuardOutcome:
        return _outcome(self.pipeline.check_input(messages))

    def check_contexts(self, contexts: list[dict[str, Any]]) -> GuardOutcome:
        return _outcome(self.pipeline.check_contexts(contexts))

    def check_output(
        self, text: str, contexts: list[dict[str, Any]] | None, system_prompt: str | None = None
    ) -> GuardOutcome:
        return _outcome(
            self.pipeline.check_output(text, contexts=contexts, system_prompt=system_prompt)
        )

    def stream_checker(
        self, contexts: list[dict[str, Any]] | None, system_prompt: str | None = None
    ) -> StreamChecker | None:
        if not self.config.output:
            return None
        inner = self.pipeline.stream_guard(contexts, system_prompt=system_prompt)

        class _Checker:
            hold_back = inner.hold_back

            def feed(self, delta: str) -> GuardOutcome | None:
                verdict = inner.feed(delta)
                return None if verdict is None else _outcome(verdict)

            def finish(self) -> GuardOutcome:
                return _outcome(inner.finish())

        return _Checker()


def build_route_guards(
    config: GuardsConfig, system_prompt: str | None = None
) -> RouteGuards | None:
    """Return the guards of a route, or None when it has none."""
    if config.is_empty():
        return None
    return _PipelineGuards(config, system_prompt)
