"""Output guards on an answer: each guard inspects what it guards, the rest passes unchanged.

Text content is checked by the route's output guards; tool-call arguments by the output guards
that guard arguments (PII, system-prompt leaks: ``hooks.TOOL_ARGUMENT_GUARDS``). A fix replaces
only the text it repaired (and drops that choice's logprobs, which would show the original
tokens); ``tool_calls``, other choices, ``refusal`` and upstream fields are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmops.gateway.hooks import GuardOutcome, RouteGuards, system_text
from llmops.gateway.responses import ApiError

if TYPE_CHECKING:
    from llmops.gateway.context import RequestContext
    from llmops.gateway.upstream_chat import ManagedCall
    from llmops.providers.base import ChatResult, Context

__all__ = ["OutputGuard", "blocked", "choices_of", "contexts_payload"]


def contexts_payload(contexts: list[Context], with_text: bool) -> list[dict[str, Any]]:
    """Return retrieved contexts as plain dicts (for guards, or the response's ``llmops``)."""
    out = []
    for c in contexts:
        item: dict[str, Any] = {"id": c.id, "source": c.source, "score": c.score}
        if c.title:
            item["title"] = c.title
        if with_text:
            item["text"] = c.text
        out.append(item)
    return out


def choices_of(result: ChatResult) -> list[dict[str, Any]]:
    """Return the answer's chat choices: the upstream's own when it sent JSON, else the
    provider's (one, or ``n``)."""
    raw = result.raw
    choices = raw.get("choices") if isinstance(raw, dict) else None
    if isinstance(choices, list) and choices and all(isinstance(c, dict) for c in choices):
        out = []
        for c in choices:
            choice = dict(c)
            if isinstance(choice.get("message"), dict):
                choice["message"] = dict(choice["message"])
            out.append(choice)
        return out
    return [
        {
            "index": c.index,
            "message": {"role": "assistant", "content": c.content},
            "finish_reason": c.finish_reason,
            "logprobs": None,
        }
        for c in result.all_choices()
    ]


def blocked(outcome: GuardOutcome, what: str) -> ApiError:
    """Return the 400 a blocking guard outcome becomes."""
    return ApiError(400, outcome.message or f"{what} blocked by a guard", code=outcome.code)


@dataclass(slots=True)
class OutputGuard:
    """The output guards of one request, bound to its contexts and system prompt."""

    ctx: RequestContext
    guards: RouteGuards
    contexts: list[dict[str, Any]] | None
    system: str | None

    @classmethod
    def of(cls, ctx: RequestContext, call: ManagedCall) -> OutputGuard | None:
        """Return the request's output guard, or None when its route guards no output."""
        guards = ctx.route.guards if ctx.route is not None else None
        if guards is None or not guards.has_output:
            return None
        contexts = contexts_payload(call.contexts, True) if call.contexts else None
        return cls(ctx, guards, contexts, system_text(call.messages, contexts))

    async def text(self, content: str, **trace: Any) -> GuardOutcome:
        """Check answer text (traced); the caller decides what a block means (re-ask or 400)."""
        outcome: GuardOutcome = await self.ctx.rt.in_thread(
            self.guards.check_output, content, self.contexts, self.system
        )
        self.ctx.guarded("output", outcome.results, **trace)
        return outcome

    async def arguments(self, arguments: str) -> str:
        """Return tool-call arguments after their guards (raises the 400 on a block)."""
        if not self.guards.has_tool_arguments:
            return arguments
        outcome: GuardOutcome = await self.ctx.rt.in_thread(
            self.guards.check_tool_arguments, arguments, self.system
        )
        self.ctx.guarded("output", outcome.results, target="tool_arguments")
        if outcome.blocked:
            raise blocked(outcome, "tool call")
        if outcome.action == "fix" and outcome.text is not None:
            return outcome.text
        return arguments

    async def tool_calls(self, calls: list[Any]) -> list[Any]:
        """Return ``calls`` with each function's arguments guarded (everything else as sent)."""
        out = []
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            args = function.get("arguments") if isinstance(function, dict) else None
            if isinstance(function, dict) and isinstance(args, str) and args:
                checked = await self.arguments(args)
                if checked != args:
                    call = {**call, "function": {**function, "arguments": checked}}
            out.append(call)
        return out

    async def choice(self, choice: dict[str, Any], outcome: GuardOutcome | None = None) -> None:
        """Guard one choice in place (``outcome``: its text was already checked)."""
        message = choice.get("message")
        if not isinstance(message, dict):
            return
        content = message.get("content")
        if isinstance(content, str) and content:
            if outcome is None:
                outcome = await self.text(content)
            if outcome.blocked:
                raise blocked(outcome, "answer")
            if outcome.action == "fix" and outcome.text is not None and outcome.text != content:
                message["content"] = outcome.text
                choice["logprobs"] = None
        calls = message.get("tool_calls")
        if isinstance(calls, list) and calls:
            message["tool_calls"] = await self.tool_calls(calls)
