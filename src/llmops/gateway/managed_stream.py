"""A managed route's streamed answer: the upstream's chunks, relabelled and guarded in flight.

Each chunk keeps what the gateway does not guard (tool-call deltas, logprobs, every choice's
index). With output guards, each choice's text goes through its own stream checker: with
hold-back the chunk carries the checked (possibly fixed) window instead of the raw delta, and
its logprobs are dropped. Tool-call arguments, when guarded, are gathered per call and sent
whole, after their check, with the choice's finish.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmops.gateway import upstream_chat
from llmops.gateway.error_map import api_error_for
from llmops.gateway.formats import DONE, chunk_body, sse
from llmops.gateway.managed import with_fallback
from llmops.gateway.output import OutputGuard, blocked
from llmops.gateway.responses import ApiError

if TYPE_CHECKING:
    from llmops.gateway.context import RequestContext
    from llmops.gateway.hooks import GuardOutcome, StreamChecker
    from llmops.gateway.upstream import Pool
    from llmops.gateway.upstream_chat import ManagedCall

__all__ = ["stream_answer"]

Chunks = AsyncGenerator[dict[str, Any], None]


@dataclass(slots=True)
class _Choice:
    """One choice's state while streaming."""

    checker: StreamChecker | None
    text: list[str] = field(default_factory=list)
    #: Guarded tool calls, gathered by their index until the choice finishes.
    tools: dict[int, dict[str, Any]] = field(default_factory=dict)
    finished: bool = False


class _Relay:
    """Turns upstream chunks into the client's chunks, guarding them on the way."""

    def __init__(
        self, ctx: RequestContext, guard: OutputGuard | None, extra: dict[str, Any] | None
    ) -> None:
        self.ctx = ctx
        self.guard = guard
        #: The response's ``llmops`` field, sent with the first finish.
        self.extra = extra
        options = ctx.data.get("stream_options")
        self.include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        self.choices: dict[int, _Choice] = {}
        self.usage: tuple[int, int] | None = None

    async def chunks(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        """Return the client's chunks for one upstream chunk (none, one, or one plus usage)."""
        usage = upstream_chat.chunk_usage(chunk)
        if usage is not None:
            self.usage = usage
        choices = []
        for choice in chunk.get("choices") or ():
            out = await self.choice(choice)
            if out is not None:
                choices.append(out)
        common = {k: v for k, v in chunk.items() if k not in ("usage", "choices")}
        result = []
        if choices:
            if any(
                isinstance(c["delta"].get("content"), str) and c["delta"]["content"]
                for c in choices
            ):
                self.ctx.first_token()
            body = {**common, "choices": choices}
            if self.extra is not None and any(c.get("finish_reason") for c in choices):
                body.update(self.extra)
                self.extra = None
            result.append(body)
        if self.include_usage and usage is not None:
            # As OpenAI sends it: usage in a chunk of its own, with no choices.
            result.append({**common, "choices": [], "usage": chunk["usage"]})
        return result

    def _state(self, index: int) -> _Choice:
        state = self.choices.get(index)
        if state is None:
            checker = None
            if self.guard is not None:
                checker = self.guard.guards.stream_checker(self.guard.contexts, self.guard.system)
            state = self.choices[index] = _Choice(checker)
        return state

    def _outcome(self, outcome: GuardOutcome | None) -> GuardOutcome | None:
        if outcome is not None:
            self.ctx.guarded("output", outcome.results)
            if outcome.blocked:
                raise blocked(outcome, "answer")
        return outcome

    async def choice(self, choice: dict[str, Any]) -> dict[str, Any] | None:
        """Return the client's version of one streamed choice, or None when nothing is left."""
        index = choice.get("index", 0)
        state = self._state(index if isinstance(index, int) else 0)
        delta = dict(choice.get("delta") or {})
        out = dict(choice)
        text = delta.get("content")
        if isinstance(text, str) and text and state.checker is not None:
            outcome = self._outcome(state.checker.feed(text))
            if state.checker.hold_back:
                delta.pop("content")
                if outcome is not None and outcome.text:
                    delta["content"] = outcome.text
                out["logprobs"] = None
        calls = delta.get("tool_calls")
        if (
            isinstance(calls, list)
            and self.guard is not None
            and self.guard.guards.has_tool_arguments
        ):
            _gather(state.tools, calls)
            del delta["tool_calls"]
        if choice.get("finish_reason") and not state.finished:
            state.finished = True
            await self._finish(state, delta)
        if isinstance(delta.get("content"), str):
            state.text.append(delta["content"])
        out["delta"] = delta
        if not delta and not out.get("finish_reason") and not out.get("logprobs"):
            return None
        return out

    async def _finish(self, state: _Choice, delta: dict[str, Any]) -> None:
        if state.checker is not None:
            last = self._outcome(state.checker.finish())
            if state.checker.hold_back and last is not None and last.text:
                delta["content"] = delta.get("content", "") + last.text
        if state.tools and self.guard is not None:
            calls = [state.tools[i] for i in sorted(state.tools)]
            delta["tool_calls"] = [
                {"index": i, **c}
                for i, c in zip(
                    sorted(state.tools), await self.guard.tool_calls(calls), strict=True
                )
            ]
            state.tools.clear()

    async def close(self) -> dict[str, Any] | None:
        """Close choices the upstream never finished; return their last pieces, if any."""
        out = []
        for index, state in sorted(self.choices.items()):
            if state.finished:
                continue
            state.finished = True
            delta: dict[str, Any] = {}
            await self._finish(state, delta)
            if delta:
                out.append(
                    {"index": index, "delta": delta, "finish_reason": None, "logprobs": None}
                )
        return {"choices": out} if out else None

    def answer(self) -> str:
        """Return the text of the first choice as the client received it."""
        state = self.choices.get(0)
        return "".join(state.text) if state is not None else ""


def _gather(tools: dict[int, dict[str, Any]], calls: list[Any]) -> None:
    for piece in calls:
        if not isinstance(piece, dict):
            continue
        index = piece.get("index", 0)
        call = tools.setdefault(index if isinstance(index, int) else 0, {})
        for key in ("id", "type"):
            if piece.get(key) is not None:
                call[key] = piece[key]
        function = piece.get("function")
        if isinstance(function, dict):
            target = call.setdefault("function", {"arguments": ""})
            if function.get("name") is not None:
                target["name"] = function["name"]
            if isinstance(function.get("arguments"), str):
                target["arguments"] = target.get("arguments", "") + function["arguments"]


async def _open(pool: Pool, call: ManagedCall) -> tuple[Chunks, dict[str, Any] | None]:
    it = upstream_chat.stream(pool, call)
    try:
        first: dict[str, Any] | None = await it.__anext__()
    except StopAsyncIteration:
        first = None
    return it, first


async def stream_answer(
    ctx: RequestContext, pool: Pool, call: ManagedCall, extra: dict[str, Any] | None
) -> None:
    """Stream a managed answer; failures after the start end it with an in-band error event."""
    route = ctx.require_route()
    t_up = time.perf_counter()
    # Pulling the first chunk before answering lets an upstream that fails at once (or a
    # fallback) still produce a proper HTTP status instead of an in-band error.
    it, first = await with_fallback(ctx, pool, call, _open)
    ctx.replica(call.replica)
    relay = _Relay(ctx, OutputGuard.of(ctx, call), extra)
    created = int(time.time())
    await ctx.send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/event-stream"),
                (b"cache-control", b"no-cache"),
                *ctx.out_headers(),
            ],
        }
    )

    async def emit(chunk: dict[str, Any]) -> None:
        body = chunk_body(
            ctx.shape, chunk, request_id=ctx.request_id, model=route.name, created=created
        )
        await ctx.send({"type": "http.response.body", "body": sse(body), "more_body": True})

    try:
        chunk = first
        while chunk is not None:
            if ctx.client_gone():
                ctx.fail(
                    ApiError(499, "the client went away mid-stream", code="client_disconnected")
                )
                ctx.answered(relay.answer())
                await it.aclose()  # runs the stream's finally: the upstream connection closes
                return
            for out in await relay.chunks(chunk):
                await emit(out)
            try:
                chunk = await it.__anext__()
            except StopAsyncIteration:
                chunk = None
        tail = await relay.close()
        if tail is not None:
            await emit(tail)
    except Exception as exc:  # after the start, a failure can only be reported in-band
        err = api_error_for(exc)
        ctx.fail(err)
        ctx.answered(relay.answer())
        await ctx.send(
            {
                "type": "http.response.body",
                "more_body": False,
                "body": sse({"error": err.payload()}) + DONE,
            }
        )
        return
    ctx.upstream_took(t_up)
    ctx.answered(relay.answer(), relay.usage)
    await ctx.send({"type": "http.response.body", "body": DONE, "more_body": False})
