"""The hot path: forward a request's raw bytes to an HTTP pool and its answer back.

Nothing here builds models of the request or the answer: the body was parsed once for routing
and checks, the answer is checked to be JSON (or streamed through as it arrives) and parsed for
the trace off the request path by the trace writer.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import orjson

from llmops.gateway.formats import DONE
from llmops.gateway.responses import ApiError, Send, send_json
from llmops.traces import TraceRecord

if TYPE_CHECKING:
    from llmops.gateway.upstream import UpstreamCall

__all__ = ["forward_body", "forward_stream"]

_SSE_HEADERS = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]


def _bad(what: str) -> ApiError:
    return ApiError(
        502,
        f"upstream returned an invalid response: {what}",
        code="upstream_invalid_response",
        type_="api_error",
    )


async def forward_body(
    up: UpstreamCall, send: Send, headers: list[tuple[bytes, bytes]], rec: TraceRecord
) -> None:
    """Send a non-streamed upstream answer (or its client error) to the client."""
    try:
        raw = await up.response.read()
    except Exception as exc:  # the upstream cut the body short
        raise _bad(f"body broke off ({type(exc).__name__})") from None
    finally:
        up.release()
    status = up.response.status
    # A garbage 200 must not reach the client as if it were an answer.
    if not raw.startswith(b"{"):
        raise _bad(raw[:120].decode("utf-8", "replace") or "empty body")
    if status < 400:
        rec.raw_body = raw
    else:
        rec.status = status
        rec.error_code = "upstream_rejected"
    await send_json(send, status, raw, headers)


async def forward_stream(
    up: UpstreamCall,
    send: Send,
    headers: list[tuple[bytes, bytes]],
    rec: TraceRecord,
    t0: float,
    gone: asyncio.Future[Any] | None = None,
) -> None:
    """Relay an SSE answer chunk by chunk; a broken stream ends with an error event."""
    response = up.response
    try:
        if response.status >= 400 or "text/event-stream" not in response.headers.get(
            "content-type", ""
        ):
            raw = await response.read()
            if response.status >= 400 and raw.startswith(b"{"):
                rec.status = response.status
                rec.error_code = "upstream_rejected"
                await send_json(send, response.status, raw, headers)
                return
            raise _bad(f"expected an event stream: {raw[:120].decode('utf-8', 'replace')}")
        stream = response.iter_chunks()
        # Peek at the first piece before committing to a 200: garbage gets a proper 502.
        try:
            first = await stream.__anext__()
        except StopAsyncIteration:
            first = b""
        except Exception as exc:  # the upstream broke before sending anything
            raise _bad(f"stream broke off ({type(exc).__name__})") from None
        if not first.lstrip().startswith((b"data:", b":", b"event:", b"id:", b"retry:")):
            raise _bad(f"not an event stream: {first[:120].decode('utf-8', 'replace')}")
        rec.first_token_ms = (time.perf_counter() - t0) * 1000
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), *_SSE_HEADERS, *headers],
            }
        )
        chunks: list[bytes] = [first]
        rec.raw_chunks = chunks
        tail = first[-16:]
        try:
            await send({"type": "http.response.body", "body": first, "more_body": True})
            async for piece in stream:
                if gone is not None and gone.done():
                    # Releasing an unfinished response closes the upstream connection.
                    rec.status, rec.error_code = 499, "client_disconnected"
                    return
                chunks.append(piece)
                tail = (tail + piece)[-16:]
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            if not tail.rstrip().endswith(b"[DONE]"):
                raise ConnectionError("the upstream closed the stream before [DONE]")
        except Exception as exc:  # report mid-stream failures in-band, as OpenAI does
            err = _bad(f"stream broke off ({type(exc).__name__}: {exc})")
            rec.status = err.status
            rec.error_code = err.code
            rec.error_message = err.message
            payload = b"\n\ndata: " + orjson.dumps({"error": err.payload()}) + b"\n\n" + DONE
            await send({"type": "http.response.body", "body": payload, "more_body": False})
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        up.release()
