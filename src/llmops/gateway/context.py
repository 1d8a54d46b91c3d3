"""The request context: one object per completion request, handed from stage to stage.

It holds what arrived (headers, body, parsed JSON), who sent it (the key), where it goes (the
route) and how to answer (``send``, tracking whether the response started). It is the only
writer of the request's trace record: stages say what happened through its methods
(``served_by``, ``prompt_used``, ``retrieved``, ``guarded``, ``fail``...) and ``finish`` hands
the record to the trace writer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmops.gateway.formats import Shape
from llmops.gateway.responses import ApiError, Send, send_json
from llmops.traces import TraceRecord

if TYPE_CHECKING:
    from llmops.gateway.auth import ApiKey
    from llmops.gateway.runtime import GatewayRuntime, RouteRuntime
    from llmops.gateway.validate import Receive

__all__ = ["RequestContext"]


@dataclass(slots=True, eq=False)
class RequestContext:
    """One request on its way through the gateway's stages."""

    rt: GatewayRuntime
    shape: Shape
    headers: dict[bytes, bytes]
    receive: Receive
    send_raw: Send
    rec: TraceRecord
    t0: float = field(default_factory=time.perf_counter)
    key: ApiKey | None = None
    body: bytes = b""
    data: dict[str, Any] = field(default_factory=dict)
    route: RouteRuntime | None = None
    #: Resolves when the client goes away (only watched while streaming).
    gone: asyncio.Future[Any] | None = None
    #: True once the response started: later errors can only go in-band.
    started: bool = False

    @classmethod
    def open(
        cls, rt: GatewayRuntime, scope: dict[str, Any], receive: Receive, send: Send, shape: Shape
    ) -> RequestContext:
        """Start the context for an ASGI request (request id from x-request-id when given)."""
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id")
        rid = given.decode("latin-1")[:64] if given else rt.new_request_id()
        return cls(rt, shape, headers, receive, send, TraceRecord(rid, endpoint=shape))

    @classmethod
    def shadow_of(cls, primary: RequestContext, data: dict[str, Any]) -> RequestContext:
        """Return a context for a shadow call: its own trace record, nothing to answer."""
        route = primary.route
        rec = TraceRecord(
            f"{primary.rec.request_id}-shadow",
            endpoint=primary.shape,
            route=route.name if route else None,
            arm="shadow",
            strategy="shadow",
            shadow_of=primary.rec.request_id,
            user=data.get("user"),
        )
        return cls(
            primary.rt,
            primary.shape,
            primary.headers,
            primary.receive,
            _no_send,
            rec,
            key=primary.key,
            data=data,
            route=route,
            started=True,
        )

    @property
    def request_id(self) -> str:
        """Return the request id (sent back as x-request-id and forwarded upstream)."""
        return self.rec.request_id

    def require_route(self) -> RouteRuntime:
        """Return the route (stages after routing only)."""
        if self.route is None:
            raise RuntimeError("the request has no route yet")  # a gateway bug, mapped to 500
        return self.route

    @property
    def stream(self) -> bool:
        """Return True when the client asked for a stream."""
        return self.rec.stream

    async def send(self, message: MutableMapping[str, Any]) -> None:
        """Send an ASGI message to the client (the response has started after this)."""
        self.started = True
        await self.send_raw(message)

    # -- the trace ------------------------------------------------------------------------

    def accepted(self, key: ApiKey) -> None:
        """Note the authenticated caller."""
        self.key = key
        self.rec.key_id = key.id

    def routed(self, route: RouteRuntime, data: dict[str, Any]) -> None:
        """Note the route and the request's parsed body."""
        self.route = route
        self.data = data
        self.rec.route = route.name
        self.rec.user = data.get("user")
        self.rec.stream = bool(data.get("stream"))

    def watch_disconnect(self) -> None:
        """Start watching for the client going away (the body was read, so receive() waits)."""
        self.gone = asyncio.ensure_future(self.receive())

    def client_gone(self) -> bool:
        """Return True when the client disconnected mid-stream."""
        return self.gone is not None and self.gone.done()

    def released(self, strategy: str | None, arm: str | None) -> None:
        """Note the release strategy and the arm this request was assigned to."""
        self.rec.strategy = strategy
        self.rec.arm = arm

    def served_by(self, pool: str, model: str | None) -> None:
        """Note the upstream pool (and model) being tried."""
        self.rec.upstream = pool
        self.rec.upstream_model = model

    def replica(self, name: str | None) -> None:
        """Note the replica that answered."""
        self.rec.replica = name

    def asked(self, question: str) -> None:
        """Note the question (the last user turn)."""
        self.rec.question = question

    def retrieved(self, lineage: Any, chunk_ids: list[str], scores: list[float], ms: float) -> None:
        """Note what retrieval returned and from which index version."""
        rec = self.rec
        rec.retrieval_ms = ms
        rec.index_pipeline = lineage.pipeline
        rec.index_version = lineage.index_version
        rec.chunk_ids = chunk_ids
        rec.chunk_scores = scores

    def prompt_used(self, lineage: Any) -> None:
        """Note the prompt version that rendered the request."""
        rec = self.rec
        rec.prompt_name = lineage.name
        rec.prompt_version = str(lineage.version)
        rec.prompt_hash = lineage.content_hash

    def guarded(self, stage: str, results: list[dict[str, Any]], **extra: Any) -> None:
        """Add guard results of one stage to the trace."""
        self.rec.guards = (self.rec.guards or []) + [
            {"stage": stage, **extra, **r} for r in results
        ]

    def first_token(self) -> None:
        """Note the time to the first streamed token (once)."""
        if self.rec.first_token_ms is None:
            self.rec.first_token_ms = (time.perf_counter() - self.t0) * 1000

    def upstream_took(self, since: float) -> None:
        """Note the upstream time, from ``since`` (a perf_counter value) to now."""
        self.rec.upstream_ms = (time.perf_counter() - since) * 1000

    def answered(self, text: str, usage: tuple[int, int] | None = None) -> None:
        """Note the answer text and token usage (prompt, completion)."""
        self.rec.answer = text
        if usage is not None:
            self.rec.prompt_tokens, self.rec.completion_tokens = usage

    def raw_answer(self, body: bytes | None = None, chunks: list[bytes] | None = None) -> None:
        """Keep the upstream's raw answer; the trace writer parses it off the request path."""
        self.rec.raw_body = body
        self.rec.raw_chunks = chunks

    def fail(self, err: ApiError) -> None:
        """Note the failure the client sees (status, code, message)."""
        rec = self.rec
        rec.status = err.status
        rec.error_code = err.code
        rec.error_message = err.message

    def finish(self) -> None:
        """Stop watching the client and hand the record to the trace writer."""
        if self.gone is not None and not self.gone.done():
            self.gone.cancel()
        self.rec.latency_ms = (time.perf_counter() - self.t0) * 1000
        self.rt.submit(self.rec)

    # -- answering ------------------------------------------------------------------------

    def out_headers(self) -> list[tuple[bytes, bytes]]:
        """Return the x-llmops-* and x-request-id response headers."""
        rec = self.rec
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

    async def send_error(self, err: ApiError) -> None:
        """Trace ``err`` and answer with it, unless the response already started."""
        self.fail(err)
        if not self.started:
            extra = [(k.encode(), v.encode()) for k, v in err.headers.items()]
            await send_json(self.send_raw, err.status, err.body(), self.out_headers() + extra)


async def _no_send(_message: MutableMapping[str, Any]) -> None:
    return None
