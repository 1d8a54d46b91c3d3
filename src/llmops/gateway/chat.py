"""``POST /v1/chat/completions`` and ``POST /v1/completions``: the request path, stage by stage.

auth -> limits -> body checks -> route -> release arm -> (passthrough: raw bytes to an HTTP
pool, ``passthrough.py``) or (managed: input guards -> retrieval -> context guards -> render ->
upstream with fallback pools -> output guards, ``managed.py``) -> trace. One
``RequestContext`` goes from stage to stage; every failure becomes an OpenAI error through one
table (``error_map.py``).
"""

from __future__ import annotations

import asyncio
import time

from llmops.gateway import upstream_chat
from llmops.gateway.access import admit
from llmops.gateway.auth import ApiKey
from llmops.gateway.context import RequestContext
from llmops.gateway.error_map import api_error_for
from llmops.gateway.managed import answer, prepare
from llmops.gateway.passthrough import forward
from llmops.gateway.release import Assignment, choose_arm, take_shadow
from llmops.gateway.responses import ApiError
from llmops.gateway.runtime import GatewayRuntime, RouteRuntime
from llmops.gateway.validate import check_chat, check_completion, parse_json, read_body

__all__ = ["handle_completion"]


async def handle_completion(ctx: RequestContext) -> None:
    """Serve one chat (``shape='chat'``) or legacy text completion request."""
    rt = ctx.rt
    try:
        ctx.accepted(await admit(rt, ctx.headers.get(b"authorization"), "/v1/"))
        ctx.body = await read_body(ctx.receive, ctx.headers, rt.config.server.max_body_bytes)
        data = parse_json(ctx.body)
        if ctx.shape == "chat":
            check_chat(data, rt.config.server.max_messages)
        else:
            check_completion(data)
        ctx.routed(_route(rt, data, ctx.key or rt.keys.anonymous), data)
        if ctx.stream:
            # The body is read, so receive() now only returns when the client goes away:
            # a stream then stops, and closing the upstream connection aborts its generation.
            ctx.watch_disconnect()
        await _serve(ctx)
    except Exception as exc:
        await ctx.send_error(api_error_for(exc, ctx.request_id))
    finally:
        ctx.finish()


def _route(rt: GatewayRuntime, data: dict[str, object], key: ApiKey) -> RouteRuntime:
    name = str(data["model"])
    route = rt.routes.get(name)
    if route is None:
        known = ", ".join(sorted(rt.routes)) or "none configured"
        raise ApiError(
            404,
            f"The model '{name}' does not exist. Available models: {known}",
            param="model",
            code="model_not_found",
        )
    if not key.allows_route(route.config.scopes):
        raise ApiError(
            403,
            f"key '{key.id}' may not use model '{name}' (needs scope: "
            f"{' or '.join(route.config.scopes)})",
            code="insufficient_scope",
        )
    return route


async def _serve(ctx: RequestContext) -> None:
    route = ctx.require_route()
    rc = route.config
    assignment = Assignment(None, None)
    if rc.release is not None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in ctx.headers.items()}
        assignment = choose_arm(route.name, rc.release, ctx.data.get("user"), headers)
        shadowing = rc.release.strategy == "shadow"
        ctx.released(assignment.strategy, assignment.name or ("primary" if shadowing else None))
        if take_shadow(rc.release):
            _start_shadow(ctx)
    arm = assignment.arm
    pool = ctx.rt.pools[(arm.upstream if arm and arm.upstream else None) or rc.upstream]
    model = (arm.model if arm else None) or rc.model or pool.model
    if route.passthrough and pool.is_http:
        provider_pool = await forward(ctx, pool, model)
        if provider_pool is None:
            return
        # The fallback chain reached a provider pool (e.g. the offline model): answer there.
        ctx.data["model"] = route.name
        pool, model = provider_pool, provider_pool.model
    prompt_ref = (arm.prompt if arm and arm.prompt else None) or rc.prompt
    await answer(ctx, pool, model, prompt_ref)


# -- shadow --------------------------------------------------------------------------------------


def _start_shadow(primary: RequestContext) -> None:
    shadow_ctx = RequestContext.shadow_of(primary, dict(primary.data))
    task = asyncio.create_task(_shadow(shadow_ctx))
    primary.rt.shadow_tasks.add(task)
    task.add_done_callback(primary.rt.shadow_tasks.discard)


async def _shadow(ctx: RequestContext) -> None:
    """Call the shadow candidate off the response path; its failures only reach the trace."""
    route = ctx.require_route()
    shadow = route.config.release.shadow if route.config.release else None
    if shadow is None:
        return
    ctx.t0 = time.perf_counter()
    try:
        pool = ctx.rt.pools[shadow.upstream or route.config.upstream]
        model = shadow.model or (route.config.model if not shadow.upstream else None) or pool.model
        call = await prepare(ctx, model, shadow.prompt or route.config.prompt)
        ctx.served_by(pool.name, call.model)
        result = await upstream_chat.complete(pool, call)
        ctx.replica(call.replica)
        ctx.answered(result.content, (result.usage.prompt_tokens, result.usage.completion_tokens))
    except Exception as exc:  # the candidate must never affect anything but its own trace
        ctx.fail(api_error_for(exc, ctx.request_id))
    finally:
        ctx.finish()
