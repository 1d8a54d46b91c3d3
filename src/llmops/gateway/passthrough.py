"""The hot path: forward a request's raw bytes to an HTTP pool and its answer back.

Nothing here builds models of the request or the answer: the body was parsed once for routing
and checks, the answer is checked to be JSON (or streamed through as it arrives) and parsed for
the trace off the request path by the trace writer.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import orjson

from llmops.errors import UpstreamError
from llmops.gateway.formats import DONE
from llmops.gateway.responses import ApiError, bad_upstream, send_json

if TYPE_CHECKING:
    from llmops.gateway.context import RequestContext
    from llmops.gateway.upstream import Pool, UpstreamCall

__all__ = ["forward", "forward_body", "forward_stream"]

_SSE_HEADERS = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]


async def forward(ctx: RequestContext, pool: Pool, model: str | None) -> Pool | None:
    """Forward the raw body down the fallback chain; return a provider pool to answer instead.

    The body is re-encoded only when the upstream model differs from the client's.
    """
    data, body = ctx.data, ctx.body
    path = "/chat/completions" if ctx.shape == "chat" else "/completions"
    hops = 0
    while True:
        if model and data["model"] != model:
            data["model"] = model
            body = orjson.dumps(data)
        ctx.served_by(pool.name, model or data["model"])
        t_up = time.perf_counter()
        try:
            up = await pool.post(path, body, request_id=ctx.request_id)
            break
        except UpstreamError:
            nxt = ctx.rt.fallback(pool, hops)
            if nxt is None:
                raise
            pool, hops = nxt, hops + 1
            model = pool.model
            if not pool.is_http:
                return pool
    ctx.replica(up.replica.name)
    if ctx.stream:
        await forward_stream(up, ctx)
    else:
        await forward_body(up, ctx)
    ctx.upstream_took(t_up)
    return None


async def forward_body(up: UpstreamCall, ctx: RequestContext) -> None:
    """Send a non-streamed upstream answer (or its client error) to the client."""
    raw = await up.body()
    status = up.response.status
    # A garbage 200 must not reach the client as if it were an answer.
    if not raw.startswith(b"{"):
        raise bad_upstream(raw[:120].decode("utf-8", "replace") or "empty body")
    if status < 400:
        ctx.raw_answer(body=raw)
    else:
        ctx.fail(_rejected(status))
    await send_json(ctx.send, status, raw, ctx.out_headers())


def _rejected(status: int) -> ApiError:
    return ApiError(status, "the upstream rejected the request", code="upstream_rejected")


async def forward_stream(up: UpstreamCall, ctx: RequestContext) -> None:
    """Relay an SSE answer chunk by chunk; a broken stream ends with an error event."""
    response = up.response
    send = ctx.send
    try:
        if response.status >= 400 or "text/event-stream" not in response.headers.get(
            "content-type", ""
        ):
            raw = await response.read()
            if response.status >= 400 and raw.startswith(b"{"):
                ctx.fail(_rejected(response.status))
                await send_json(send, response.status, raw, ctx.out_headers())
                return
            raise bad_upstream(f"expected an event stream: {raw[:120].decode('utf-8', 'replace')}")
        stream = response.iter_chunks()
        # Peek at the first piece before committing to a 200: garbage gets a proper 502.
        try:
            first = await stream.__anext__()
        except StopAsyncIteration:
            first = b""
        except Exception as exc:  # the upstream broke before sending anything
            raise bad_upstream(f"stream broke off ({type(exc).__name__})") from None
        if not first.lstrip().startswith((b"data:", b":", b"event:", b"id:", b"retry:")):
            raise bad_upstream(f"not an event stream: {first[:120].decode('utf-8', 'replace')}")
        ctx.first_token()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    *_SSE_HEADERS,
                    *ctx.out_headers(),
                ],
            }
        )
        chunks: list[bytes] = [first]
        ctx.raw_answer(chunks=chunks)
        tail = first[-16:]
        try:
            await send({"type": "http.response.body", "body": first, "more_body": True})
            async for piece in stream:
                if ctx.client_gone():
                    # Releasing an unfinished response closes the upstream connection.
                    ctx.fail(ApiError(499, "the client went away", code="client_disconnected"))
                    return
                chunks.append(piece)
                tail = (tail + piece)[-16:]
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            if not tail.rstrip().endswith(b"[DONE]"):
                raise ConnectionError("the upstream closed the stream before [DONE]")
        except Exception as exc:  # report mid-stream failures in-band, as OpenAI does
            err = bad_upstream(f"stream broke off ({type(exc).__name__}: {exc})")
            ctx.fail(err)
            payload = b"\n\ndata: " + orjson.dumps({"error": err.payload()}) + b"\n\n" + DONE
            await send({"type": "http.response.body", "body": payload, "more_body": False})
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        up.release()
