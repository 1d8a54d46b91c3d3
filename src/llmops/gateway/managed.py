"""Managed routes: the stages around the upstream when a route renders, retrieves or guards.

input guards -> retrieval -> context guards -> render -> upstream (with fallback pools) ->
output guards -> answer. Streams continue in ``managed_stream.py``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from llmops.errors import UpstreamError
from llmops.gateway import upstream_chat
from llmops.gateway.formats import completion_body
from llmops.gateway.output import OutputGuard, blocked, choices_of, contexts_payload
from llmops.gateway.responses import send_json
from llmops.gateway.upstream_chat import ManagedCall, client_params
from llmops.gateway.validate import last_user_text

if TYPE_CHECKING:
    from llmops.gateway.context import RequestContext
    from llmops.gateway.upstream import Pool
    from llmops.providers.base import ChatResult, Context

__all__ = ["answer", "prepare", "with_fallback"]

T = TypeVar("T")


async def prepare(ctx: RequestContext, model: str | None, prompt_ref: str | None) -> ManagedCall:
    """Run the stages before the upstream: input guards, retrieval, context guards, render."""
    rt, route, data = ctx.rt, ctx.require_route(), ctx.data
    if "messages" in data:
        messages = [dict(m) for m in data["messages"]]
    else:
        prompt = data["prompt"]
        text = prompt if isinstance(prompt, str) else "\n".join(prompt)
        messages = [{"role": "user", "content": text}]
    guards = route.guards
    if guards is not None:
        outcome = await rt.in_thread(guards.check_input, messages)
        ctx.guarded("input", outcome.results)
        if outcome.blocked:
            raise blocked(outcome, "input")
        if outcome.action == "fix" and outcome.messages is not None:
            messages = [dict(m) for m in outcome.messages]
        elif outcome.action == "fix" and outcome.text is not None:
            _replace_last_user(messages, outcome.text)
    question = last_user_text(messages)
    ctx.asked(question)
    contexts = await _retrieve(ctx, question)
    params = client_params(data)
    if prompt_ref is not None:
        rendered = route.prompts[prompt_ref].render(
            question=question,
            contexts=[{"id": c.id, "text": c.text, "source": c.source or ""} for c in contexts],
        )
        ctx.prompt_used(rendered.lineage)
        # The prompt's history replaces the client's turns; its parameters are defaults.
        messages = list(rendered.messages)
        params = {**rendered.params, **params}
    return ManagedCall(
        model=model or data["model"],
        messages=messages,
        params=params,
        contexts=contexts,
        question=question,
        request_id=ctx.request_id,
    )


async def _retrieve(ctx: RequestContext, question: str) -> list[Context]:
    route = ctx.route
    if route is None or route.retriever is None:
        return []
    rcfg = route.config.retrieval
    t = time.perf_counter()
    result = await ctx.rt.in_thread(
        route.retriever.retrieve,
        question,
        k=rcfg.k,
        filters=rcfg.filters,
        hybrid=rcfg.hybrid,
        mmr=rcfg.mmr,
    )
    contexts: list[Context] = [chunk.to_context() for chunk in result.chunks]
    ctx.retrieved(
        result.lineage,
        [c.id for c in contexts],
        [float(c.score) if c.score is not None else 0.0 for c in contexts],
        (time.perf_counter() - t) * 1000,
    )
    ctx.rec.note_retrieval(result, contexts, route.retriever.pipeline.model_spec)
    guards = route.guards
    if guards is None or not contexts:
        return contexts
    outcome = await ctx.rt.in_thread(guards.check_contexts, contexts_payload(contexts, True))
    ctx.guarded("contexts", outcome.results)
    if outcome.blocked:
        raise blocked(outcome, "retrieved context")
    if outcome.action == "fix" and outcome.dropped:
        contexts = [c for i, c in enumerate(contexts) if i not in outcome.dropped]
    return contexts


def _replace_last_user(messages: list[dict[str, Any]], text: str) -> None:
    for msg in reversed(messages):
        if msg.get("role") == "user":
            msg["content"] = text
            return


async def with_fallback(
    ctx: RequestContext,
    pool: Pool,
    call: ManagedCall,
    fn: Callable[[Pool, ManagedCall], Awaitable[T]],
) -> T:
    """Return ``fn(pool, call)``, moving down the pool's fallback chain on upstream failures."""
    hops = 0
    while True:
        ctx.served_by(pool.name, call.model)
        try:
            return await fn(pool, call)
        except UpstreamError:
            nxt = ctx.rt.fallback(pool, hops)
            if nxt is None:
                raise
            pool, hops = nxt, hops + 1
            if pool.model:
                call.model = pool.model


def llmops_extra(ctx: RequestContext, call: ManagedCall) -> dict[str, Any] | None:
    """Return the response's ``llmops`` field (route and contexts) for RAG routes, else None."""
    route = ctx.route
    if route is None or route.retriever is None or not ctx.rt.config.server.return_contexts:
        return None
    return {"llmops": {"route": route.name, "contexts": contexts_payload(call.contexts, False)}}


async def answer(
    ctx: RequestContext, pool: Pool, model: str | None, prompt_ref: str | None
) -> None:
    """Serve a managed route: prepare, call the upstream, guard the answer, respond."""
    call = await prepare(ctx, model, prompt_ref)
    extra = llmops_extra(ctx, call)
    if ctx.stream:
        from llmops.gateway.managed_stream import stream_answer

        await stream_answer(ctx, pool, call, extra)
        return
    t_up = time.perf_counter()
    result = await with_fallback(ctx, pool, call, upstream_chat.complete)
    ctx.upstream_took(t_up)
    ctx.replica(call.replica)
    choices = choices_of(result)
    guard = OutputGuard.of(ctx, call)
    if guard is not None:
        result, choices = await _guard(ctx, guard, (pool, call), result, choices)
    first = choices[0].get("message") if choices else None
    content = first.get("content") if isinstance(first, dict) else None
    usage = (result.usage.prompt_tokens, result.usage.completion_tokens)
    ctx.answered(content if isinstance(content, str) else "", usage)
    if extra is not None and result.citations:
        extra["llmops"]["citations"] = result.citations
    route = ctx.require_route()
    payload = completion_body(
        ctx.shape,
        request_id=ctx.request_id,
        model=route.name,
        choices=choices,
        usage=usage,
        upstream=result.raw,
    )
    if extra:
        payload.update(extra)
    await send_json(ctx.send, 200, orjson.dumps(payload), ctx.out_headers())


async def _guard(
    ctx: RequestContext,
    guard: OutputGuard,
    target: tuple[Pool, ManagedCall],
    result: ChatResult,
    choices: list[dict[str, Any]],
) -> tuple[ChatResult, list[dict[str, Any]]]:
    """Guard every choice; one repair re-ask when a single text answer is blocked with one."""
    pool, call = target
    first = choices[0].get("message") if len(choices) == 1 else None
    content = first.get("content") if isinstance(first, dict) else None
    if isinstance(content, str) and content:
        outcome = await guard.text(content)
        if outcome.blocked and outcome.reask is not None:
            # One repair re-ask (e.g. JSON that misses the schema), then the verdict stands.
            call.messages = [
                *call.messages,
                {"role": "assistant", "content": content},
                {"role": "user", "content": outcome.reask},
            ]
            result = await with_fallback(ctx, pool, call, upstream_chat.complete)
            choices = choices_of(result)
            again = choices[0].get("message") if choices else None
            text = again.get("content") if isinstance(again, dict) else None
            outcome = await guard.text(text if isinstance(text, str) else "", reask=True)
        await guard.choice(choices[0], outcome)
        return result, choices
    for choice in choices:
        await guard.choice(choice)
    return result, choices
