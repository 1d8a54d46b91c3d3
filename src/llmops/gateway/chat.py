"""``POST /v1/chat/completions`` and ``POST /v1/completions``: the request path, stage by stage.

auth -> limits -> body checks -> route -> release arm -> input guards -> retrieval -> context
guards -> render -> upstream (with fallback pools) -> output guards -> trace. Passthrough routes
to HTTP pools skip straight from the route to a raw-bytes forward (``passthrough.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from llmops.errors import LLMOpsError, StateError, UpstreamError
from llmops.gateway import upstream_chat
from llmops.gateway.auth import ApiKey
from llmops.gateway.formats import DONE, Shape, chunk_bytes, completion_body, sse
from llmops.gateway.hooks import system_text
from llmops.gateway.passthrough import forward_body, forward_stream
from llmops.gateway.release import Assignment, choose_arm, take_shadow
from llmops.gateway.responses import ApiError, Send, send_json
from llmops.gateway.runtime import GatewayRuntime, RouteRuntime
from llmops.gateway.upstream import Pool
from llmops.gateway.upstream_chat import ManagedCall, client_params, upstream_error
from llmops.gateway.validate import (
    Receive,
    check_chat,
    check_completion,
    last_user_text,
    parse_json,
    read_body,
)
from llmops.providers.base import ChatDelta, ChatResult, Context
from llmops.traces import TraceRecord

__all__ = ["handle_completion"]

log = logging.getLogger("llmops.gateway")

_MAX_FALLBACKS = 3


def _authenticate(rt: GatewayRuntime, headers: dict[bytes, bytes]) -> ApiKey:
    if not rt.keys.enabled:
        return rt.keys.anonymous
    raw = headers.get(b"authorization")
    key = rt.keys.authenticate(raw.decode("latin-1") if raw else None)
    if key is None:
        raise ApiError(
            401,
            "missing or invalid API key: send 'Authorization: Bearer <key>'",
            code="invalid_api_key",
        )
    return key


def check_rate_limit(rt: GatewayRuntime, key: ApiKey) -> None:
    """Raise a 429 ApiError (with Retry-After) when ``key`` is over its rate limit."""
    wait = rt.limiter.check(key.id, key.rate_limit)
    if wait > 0:
        seconds = max(1, int(wait + 0.999))
        raise ApiError(
            429,
            f"rate limit exceeded for key '{key.id}'; retry in {seconds} s",
            code="rate_limit_exceeded",
            headers={"retry-after": str(seconds)},
        )


def _route(rt: GatewayRuntime, data: dict[str, Any], key: ApiKey) -> RouteRuntime:
    name = data["model"]
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


def _out_headers(rec: TraceRecord) -> list[tuple[bytes, bytes]]:
    out = [(b"x-request-id", rec.request_id.encode())]
    if rec.route:
        out.append((b"x-llmops-route", rec.route.encode()))
    if rec.upstream:
        value = rec.upstream + (f"/{rec.replica}" if rec.replica else "")
        out.append((b"x-llmops-upstream", value.encode()))
    if rec.prompt_name:
        out.append((b"x-llmops-prompt", f"{rec.prompt_name}@{rec.prompt_version}".encode()))
    if rec.index_version:
        out.append((b"x-llmops-index", rec.index_version.encode()))
    if rec.arm:
        out.append((b"x-llmops-arm", rec.arm.encode()))
    return out


async def handle_completion(
    rt: GatewayRuntime, scope: dict[str, Any], receive: Receive, send: Send, shape: Shape
) -> None:
    """Serve one chat (``shape='chat'``) or legacy text completion request."""
    t0 = time.perf_counter()
    headers = dict(scope["headers"])
    given = headers.get(b"x-request-id")
    rid = given.decode("latin-1")[:64] if given else rt.new_request_id()
    rec = TraceRecord(rid, endpoint=shape)
    started = False
    gone: asyncio.Future[Any] | None = None

    async def tracked_send(message: MutableMapping[str, Any]) -> None:
        nonlocal started
        started = True
        await send(message)

    try:
        key = _authenticate(rt, headers)
        rec.key_id = key.id
        check_rate_limit(rt, key)
        body = await read_body(receive, headers, rt.config.server.max_body_bytes)
        data = parse_json(body)
        if shape == "chat":
            check_chat(data, rt.config.server.max_messages)
        else:
            check_completion(data)
        route = _route(rt, data, key)
        rec.route = route.name
        rec.user = data.get("user")
        rec.stream = bool(data.get("stream"))
        if rec.stream:
            # The body is read, so receive() now only returns when the client goes away:
            # a stream then stops, and closing the upstream connection aborts its generation.
            gone = asyncio.ensure_future(receive())
        await _serve(rt, route, data, body, headers, rec, tracked_send, shape, t0, gone)
    except ApiError as exc:
        _fail(rec, exc.status, exc.code, exc.message)
        if not started:
            extra = [(k.encode(), v.encode()) for k, v in exc.headers.items()]
            await send_json(send, exc.status, exc.body(), _out_headers(rec) + extra)
    except UpstreamError as exc:
        err = upstream_error(exc)
        _fail(rec, err.status, err.code, err.message)
        if not started:
            extra = [(k.encode(), v.encode()) for k, v in err.headers.items()]
            await send_json(send, err.status, err.body(), _out_headers(rec) + extra)
    except LLMOpsError as exc:
        # State problems (no served index yet, ...) are temporary for the client: 503.
        status = 503 if isinstance(exc, StateError) else 500
        message = exc.message + (f" ({exc.hint})" if exc.hint else "")
        _fail(rec, status, "gateway_error", message)
        if not started:
            body = ApiError(status, message, code="gateway_error").body()
            await send_json(send, status, body, _out_headers(rec))
    except Exception as exc:  # never a traceback to the client; the log keeps it
        log.exception("request %s failed", rid)
        _fail(rec, 500, "internal_error", f"{type(exc).__name__}: {exc}")
        if not started:
            err = ApiError(500, f"internal gateway error (request id {rid})", code="internal_error")
            await send_json(send, 500, err.body(), _out_headers(rec))
    finally:
        if gone is not None and not gone.done():
            gone.cancel()
        rec.latency_ms = (time.perf_counter() - t0) * 1000
        rt.submit(rec)


def _fail(rec: TraceRecord, status: int, code: str | None, message: str) -> None:
    rec.status = status
    rec.error_code = code
    rec.error_message = message


async def _serve(
    rt: GatewayRuntime,
    route: RouteRuntime,
    data: dict[str, Any],
    body: bytes,
    headers: dict[bytes, bytes],
    rec: TraceRecord,
    send: Send,
    shape: Shape,
    t0: float,
    gone: asyncio.Future[Any] | None = None,
) -> None:
    rc = route.config
    assignment = Assignment(None, None)
    if rc.release is not None:
        str_headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers.items()}
        assignment = choose_arm(route.name, rc.release, data.get("user"), str_headers)
        rec.strategy = assignment.strategy
        rec.arm = assignment.name or ("primary" if rc.release.strategy == "shadow" else None)
        if take_shadow(rc.release):
            _start_shadow(rt, route, data, rec)
    arm = assignment.arm
    pool = rt.pools[(arm.upstream if arm and arm.upstream else None) or rc.upstream]
    model = (arm.model if arm else None) or rc.model or pool.model
    if route.passthrough and pool.is_http:
        provider_pool = await _passthrough(rt, pool, model, data, body, rec, send, shape, t0, gone)
        if provider_pool is None:
            return
        # The fallback chain reached a provider pool (e.g. the offline model): answer there.
        data["model"] = route.name
        pool, model = provider_pool, provider_pool.model
    prompt_ref = (arm.prompt if arm and arm.prompt else None) or rc.prompt
    await _managed(rt, route, pool, model, prompt_ref, data, rec, send, shape, t0, gone)


# -- passthrough ---------------------------------------------------------------------------------


async def _passthrough(
    rt: GatewayRuntime,
    pool: Pool,
    model: str | None,
    data: dict[str, Any],
    body: bytes,
    rec: TraceRecord,
    send: Send,
    shape: Shape,
    t0: float,
    gone: asyncio.Future[Any] | None = None,
) -> Pool | None:
    """Forward raw bytes; return a provider pool to answer instead when the chain falls back to one."""
    path = "/chat/completions" if shape == "chat" else "/completions"
    hops = 0
    while True:
        if model and data["model"] != model:
            data["model"] = model
            body = orjson.dumps(data)
        rec.upstream = pool.name
        rec.upstream_model = model or data["model"]
        t_up = time.perf_counter()
        try:
            up = await pool.post(path, body, request_id=rec.request_id)
            break
        except UpstreamError:
            nxt = _fallback(rt, pool, hops)
            if nxt is None:
                raise
            pool, hops = nxt, hops + 1
            model = pool.model
            if not pool.is_http:
                return pool
    rec.replica = up.replica.name
    out = _out_headers(rec)
    if data.get("stream"):
        await forward_stream(up, send, out, rec, t0, gone)
    else:
        await forward_body(up, send, out, rec)
    rec.upstream_ms = (time.perf_counter() - t_up) * 1000
    return None


def _fallback(rt: GatewayRuntime, pool: Pool, hops: int) -> Pool | None:
    name = pool.config.fallback
    if name is None or hops >= _MAX_FALLBACKS:
        return None
    log.warning("upstream pool %s failed; falling back to %s", pool.name, name)
    return rt.pools[name]


# -- managed (prompt, RAG, guards, provider pools) -------------------------------------------------


def _contexts_payload(contexts: list[Context], with_text: bool) -> list[dict[str, Any]]:
    out = []
    for c in contexts:
        item: dict[str, Any] = {"id": c.id, "source": c.source, "score": c.score}
        if c.title:
            item["title"] = c.title
        if with_text:
            item["text"] = c.text
        out.append(item)
    return out


async def _prepare(
    rt: GatewayRuntime,
    route: RouteRuntime,
    model: str | None,
    prompt_ref: str | None,
    data: dict[str, Any],
    rec: TraceRecord,
) -> ManagedCall:
    """Run the stages before the upstream: input guards, retrieval, context guards, render."""
    if "messages" in data:
        messages = [dict(m) for m in data["messages"]]
    else:
        prompt = data["prompt"]
        messages = [
            {"role": "user", "content": prompt if isinstance(prompt, str) else "\n".join(prompt)}
        ]
    guards = route.guards
    guard_log: list[dict[str, Any]] = []
    if guards is not None:
        outcome = await rt.in_thread(guards.check_input, messages)
        guard_log += [{"stage": "input", **r} for r in outcome.results]
        rec.guards = guard_log
        if outcome.blocked:
            raise ApiError(400, outcome.message or "input blocked by a guard", code=outcome.code)
        if outcome.action == "fix" and outcome.messages is not None:
            messages = [dict(m) for m in outcome.messages]
        elif outcome.action == "fix" and outcome.text is not None:
            _replace_last_user(messages, outcome.text)
    question = last_user_text(messages)
    rec.question = question
    contexts: list[Context] = []
    if route.retriever is not None:
        rcfg = route.config.retrieval
        t = time.perf_counter()
        result = await rt.in_thread(
            route.retriever.retrieve,
            question,
            k=rcfg.k,
            filters=rcfg.filters,
            hybrid=rcfg.hybrid,
            mmr=rcfg.mmr,
        )
        rec.retrieval_ms = (time.perf_counter() - t) * 1000
        contexts = [chunk.to_context() for chunk in result.chunks]
        lineage = result.lineage
        rec.index_pipeline = lineage.pipeline
        rec.index_version = lineage.index_version
        rec.chunk_ids = [c.id for c in contexts]
        rec.chunk_scores = [float(c.score) if c.score is not None else 0.0 for c in contexts]
        rec.note_retrieval(result, contexts, route.retriever.pipeline.model_spec)
        if guards is not None and contexts:
            ctx_payload = _contexts_payload(contexts, True)
            outcome = await rt.in_thread(guards.check_contexts, ctx_payload)
            guard_log += [{"stage": "contexts", **r} for r in outcome.results]
            if outcome.blocked:
                raise ApiError(
                    400,
                    outcome.message or "retrieved context blocked by a guard",
                    code=outcome.code,
                )
            if outcome.action == "fix" and outcome.dropped:
                contexts = [c for i, c in enumerate(contexts) if i not in outcome.dropped]
    params = client_params(data)
    if prompt_ref is not None:
        version = route.prompts[prompt_ref]
        rendered = version.render(
            question=question,
            contexts=[{"id": c.id, "text": c.text, "source": c.source or ""} for c in contexts],
        )
        lineage = rendered.lineage
        rec.prompt_name, rec.prompt_version, rec.prompt_hash = (
            lineage.name,
            str(lineage.version),
            lineage.content_hash,
        )
        # The prompt's history replaces the client's turns; its parameters are defaults.
        messages = list(rendered.messages)
        params = {**rendered.params, **params}
    return ManagedCall(
        model=model or data["model"],
        messages=messages,
        params=params,
        contexts=contexts,
        question=question,
        request_id=rec.request_id,
    )


def _replace_last_user(messages: list[dict[str, Any]], text: str) -> None:
    for msg in reversed(messages):
        if msg.get("role") == "user":
            msg["content"] = text
            return


async def _with_fallback(
    rt: GatewayRuntime,
    pool: Pool,
    call: ManagedCall,
    rec: TraceRecord,
    fn: Callable[[Pool, ManagedCall], Awaitable[Any]],
) -> Any:
    hops = 0
    while True:
        rec.upstream = pool.name
        rec.upstream_model = call.model
        try:
            return await fn(pool, call)
        except UpstreamError:
            nxt = _fallback(rt, pool, hops)
            if nxt is None:
                raise
            pool, hops = nxt, hops + 1
            if pool.model:
                call.model = pool.model


async def _managed(
    rt: GatewayRuntime,
    route: RouteRuntime,
    pool: Pool,
    model: str | None,
    prompt_ref: str | None,
    data: dict[str, Any],
    rec: TraceRecord,
    send: Send,
    shape: Shape,
    t0: float,
    gone: asyncio.Future[Any] | None = None,
) -> None:
    call = await _prepare(rt, route, model, prompt_ref, data, rec)
    show_contexts = rt.config.server.return_contexts and route.retriever is not None
    extra: dict[str, Any] | None = None
    if show_contexts:
        extra = {
            "llmops": {"route": route.name, "contexts": _contexts_payload(call.contexts, False)}
        }
    if data.get("stream"):
        await _managed_stream(rt, route, pool, call, data, rec, send, shape, t0, extra, gone)
        return
    t_up = time.perf_counter()
    result: ChatResult = await _with_fallback(rt, pool, call, rec, upstream_chat.complete)
    rec.upstream_ms = (time.perf_counter() - t_up) * 1000
    rec.replica = call.replica
    content = result.content
    if route.guards is not None and route.guards.has_output:
        ctx = _contexts_payload(call.contexts, True) if call.contexts else None
        system = system_text(call.messages, ctx)
        outcome = await rt.in_thread(route.guards.check_output, content, ctx, system)
        rec.guards = (rec.guards or []) + [{"stage": "output", **r} for r in outcome.results]
        if outcome.blocked and outcome.reask is not None:
            # One repair re-ask (e.g. JSON that misses the schema), then the verdict stands.
            call.messages = [
                *call.messages,
                {"role": "assistant", "content": content},
                {"role": "user", "content": outcome.reask},
            ]
            result = await _with_fallback(rt, pool, call, rec, upstream_chat.complete)
            content = result.content
            outcome = await rt.in_thread(route.guards.check_output, content, ctx, system)
            rec.guards += [{"stage": "output", "reask": True, **r} for r in outcome.results]
        if outcome.blocked:
            raise ApiError(400, outcome.message or "answer blocked by a guard", code=outcome.code)
        if outcome.action == "fix" and outcome.text is not None:
            content = outcome.text
    rec.answer = content
    rec.prompt_tokens = result.usage.prompt_tokens
    rec.completion_tokens = result.usage.completion_tokens
    if extra is not None and result.citations:
        extra["llmops"]["citations"] = result.citations
    payload = completion_body(
        shape,
        request_id=rec.request_id,
        model=route.name,
        content=content,
        finish_reason=result.finish_reason,
        prompt_tokens=result.usage.prompt_tokens,
        completion_tokens=result.usage.completion_tokens,
        extra=extra,
    )
    await send_json(send, 200, orjson.dumps(payload), _out_headers(rec))


async def _managed_stream(
    rt: GatewayRuntime,
    route: RouteRuntime,
    pool: Pool,
    call: ManagedCall,
    data: dict[str, Any],
    rec: TraceRecord,
    send: Send,
    shape: Shape,
    t0: float,
    extra: dict[str, Any] | None,
    gone: asyncio.Future[Any] | None = None,
) -> None:
    checker = None
    if route.guards is not None and route.guards.has_output:
        ctx = _contexts_payload(call.contexts, True) if call.contexts else None
        checker = route.guards.stream_checker(ctx, system_text(call.messages, ctx))

    async def open_stream(
        p: Pool, c: ManagedCall
    ) -> tuple[AsyncIterator[ChatDelta], ChatDelta | None]:
        it = upstream_chat.stream(p, c).__aiter__()
        try:
            first: ChatDelta | None = await it.__anext__()
        except StopAsyncIteration:
            first = None
        return it, first

    t_up = time.perf_counter()
    # Pulling the first piece before answering lets an upstream that fails at once (or a
    # fallback) still produce a proper HTTP status instead of an in-band error.
    it, first = await _with_fallback(rt, pool, call, rec, open_stream)
    rec.replica = call.replica
    created = int(time.time())
    include_usage = bool((data.get("stream_options") or {}).get("include_usage"))
    common: dict[str, Any] = {"request_id": rec.request_id, "model": route.name, "created": created}
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/event-stream"),
                (b"cache-control", b"no-cache"),
                *_out_headers(rec),
            ],
        }
    )
    await send(
        {
            "type": "http.response.body",
            "body": chunk_bytes(shape, role=True, content="", **common),
            "more_body": True,
        }
    )
    parts: list[str] = []
    finish = "stop"
    usage: tuple[int, int] | None = None

    async def emit(text: str) -> None:
        if rec.first_token_ms is None:
            rec.first_token_ms = (time.perf_counter() - t0) * 1000
        parts.append(text)
        await send(
            {
                "type": "http.response.body",
                "body": chunk_bytes(shape, content=text, **common),
                "more_body": True,
            }
        )

    try:
        delta = first
        while delta is not None:
            if gone is not None and gone.done():
                _fail(rec, 499, "client_disconnected", "the client went away mid-stream")
                rec.answer = "".join(parts)
                aclose = getattr(it, "aclose", None)
                if aclose is not None:
                    await aclose()  # runs the stream's finally: the upstream connection closes
                return
            if delta.content:
                if checker is not None:
                    outcome = checker.feed(delta.content)
                    if outcome is not None:
                        _guard_outcome(rec, outcome)
                if checker is None or not checker.hold_back:
                    await emit(delta.content)
                elif outcome is not None and outcome.text:
                    await emit(outcome.text)  # hold-back: send checked (fixed) windows only
            if delta.finish_reason:
                finish = delta.finish_reason
            if delta.usage is not None:
                usage = (delta.usage.prompt_tokens, delta.usage.completion_tokens)
            try:
                delta = await it.__anext__()
            except StopAsyncIteration:
                delta = None
        if checker is not None:
            last = checker.finish()
            _guard_outcome(rec, last)
            if checker.hold_back and last.text:
                await emit(last.text)
    except ApiError as exc:
        _fail(rec, exc.status, exc.code, exc.message)
        rec.answer = "".join(parts)
        await send(
            {
                "type": "http.response.body",
                "more_body": False,
                "body": sse({"error": exc.payload()}) + DONE,
            }
        )
        return
    except UpstreamError as exc:
        err = upstream_error(exc)
        _fail(rec, err.status, err.code, err.message)
        rec.answer = "".join(parts)
        await send(
            {
                "type": "http.response.body",
                "more_body": False,
                "body": sse({"error": err.payload()}) + DONE,
            }
        )
        return
    rec.upstream_ms = (time.perf_counter() - t_up) * 1000
    rec.answer = "".join(parts)
    if usage is not None:
        rec.prompt_tokens, rec.completion_tokens = usage
    tail = chunk_bytes(shape, finish_reason=finish, extra=extra, **common)
    if include_usage:
        tail += chunk_bytes(shape, usage=usage or (0, 0), **common)
    await send({"type": "http.response.body", "body": tail + DONE, "more_body": False})


def _guard_outcome(rec: TraceRecord, outcome: Any) -> None:
    rec.guards = (rec.guards or []) + [{"stage": "output", **r} for r in outcome.results]
    if outcome.blocked:
        raise ApiError(400, outcome.message or "answer blocked by a guard", code=outcome.code)


# -- shadow --------------------------------------------------------------------------------------


def _start_shadow(
    rt: GatewayRuntime, route: RouteRuntime, data: dict[str, Any], primary: TraceRecord
) -> None:
    task = asyncio.create_task(_shadow(rt, route, dict(data), primary.request_id))
    rt.shadow_tasks.add(task)
    task.add_done_callback(rt.shadow_tasks.discard)


async def _shadow(
    rt: GatewayRuntime, route: RouteRuntime, data: dict[str, Any], primary_id: str
) -> None:
    """Call the shadow candidate off the response path; its failures only reach the trace."""
    shadow = route.config.release.shadow if route.config.release else None
    if shadow is None:
        return
    t0 = time.perf_counter()
    rec = TraceRecord(
        f"{primary_id}-shadow",
        endpoint="chat" if "messages" in data else "text",
        route=route.name,
        arm="shadow",
        strategy="shadow",
        shadow_of=primary_id,
        user=data.get("user"),
    )
    try:
        pool = rt.pools[shadow.upstream or route.config.upstream]
        model = shadow.model or (route.config.model if not shadow.upstream else None) or pool.model
        prompt_ref = shadow.prompt or route.config.prompt
        call = await _prepare(rt, route, model, prompt_ref, data, rec)
        rec.upstream = pool.name
        rec.upstream_model = call.model
        result = await upstream_chat.complete(pool, call)
        rec.replica = call.replica
        rec.answer = result.content
        rec.prompt_tokens = result.usage.prompt_tokens
        rec.completion_tokens = result.usage.completion_tokens
    except ApiError as exc:
        _fail(rec, exc.status, exc.code, exc.message)
    except UpstreamError as exc:
        err = upstream_error(exc)
        _fail(rec, err.status, err.code, err.message)
    except Exception as exc:  # the candidate must never affect anything but its own trace
        _fail(rec, 500, "shadow_error", f"{type(exc).__name__}: {exc}")
    finally:
        rec.latency_ms = (time.perf_counter() - t0) * 1000
        rt.submit(rec)
