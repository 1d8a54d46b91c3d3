"""The scripted server's HTTP/1.1 wire: one keep-alive connection parsed with httptools.

``Connection`` reads requests in order and hands each to ``server.handle(request, connection)``;
the handler answers with ``send`` (JSON), ``send_raw`` (bytes, maybe cut in half) or a chunked
SSE stream (``start_stream`` / ``write_chunk`` / ``end_stream``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from typing import Any, Protocol, cast

import httptools

from llmops.testing.replies import dumps

__all__ = ["Connection", "Handler", "Request", "error_json"]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class Request:
    __slots__ = ("method", "path", "headers", "body", "keep_alive")

    def __init__(self) -> None:
        self.method = ""
        self.path = ""
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.keep_alive = True


class Handler(Protocol):
    """The server side a connection reports to."""

    connections_opened: int
    _connections: set[Connection]

    async def handle(self, req: Request, conn: Connection) -> None:
        """Answer one request on ``conn``."""
        ...


def error_json(
    message: str, kind: str = "invalid_request_error", param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; requests on it are answered in order."""

    def __init__(self, server: Handler) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.current = Request()
        self.pending: deque[Request] = deque()
        self.worker: asyncio.Task[None] | None = None
        self.keep_alive = True

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.server._connections.add(self)
        self.server.connections_opened += 1
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._connections.discard(self)
        self.transport = None
        if self.worker is not None:
            self.worker.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.close()
        except httptools.HttpParserError:
            self.keep_alive = False
            self.send(400, error_json("malformed HTTP request"), "req-0")

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.current = Request()

    def on_url(self, url: bytes) -> None:
        self.current.path += url.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.current.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.current.body += body

    def on_message_complete(self) -> None:
        req = self.current
        req.method = self.parser.get_method().decode()
        req.keep_alive = self.parser.should_keep_alive()
        self.pending.append(req)
        if self.worker is None or self.worker.done():
            self.worker = asyncio.get_running_loop().create_task(self._work())

    async def _work(self) -> None:
        while self.pending and self.transport is not None:
            req = self.pending.popleft()
            self.keep_alive = req.keep_alive
            await self.server.handle(req, self)

    # responses
    def _head(self, status: int, rid: str, headers: list[tuple[str, str]]) -> bytes:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"x-request-id: {rid}"]
        lines += [f"{k}: {v}" for k, v in headers]
        if not self.keep_alive:
            lines.append("connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send(
        self,
        status: int,
        obj: dict[str, Any],
        rid: str,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        """Send a whole JSON response."""
        self.send_raw(status, dumps(obj), rid, extra)

    def send_raw(
        self,
        status: int,
        body: bytes,
        rid: str,
        extra: list[tuple[str, str]] | None = None,
        truncate: bool = False,
    ) -> None:
        """Send bytes as a JSON response; ``truncate`` sends half of them, then closes."""
        if self.transport is None:
            return
        headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
        payload = body[: len(body) // 2] if truncate else body
        self.transport.write(self._head(status, rid, headers + (extra or [])) + payload)
        if truncate or not self.keep_alive:
            self.close()

    def start_stream(self, rid: str, extra: list[tuple[str, str]]) -> None:
        """Send the headers of an SSE response (chunked transfer encoding)."""
        if self.transport is None:
            return
        headers = [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("cache-control", "no-cache"),
            ("transfer-encoding", "chunked"),
        ]
        self.transport.write(self._head(200, rid, headers + extra))

    def write_chunk(self, data: bytes) -> None:
        """Send one HTTP chunk."""
        if self.transport is not None and data:
            self.transport.write(b"%x\r\n%b\r\n" % (len(data), data))

    def end_stream(self, abort: bool = False) -> None:
        """Finish the chunked body, or close without finishing it when ``abort``."""
        if self.transport is None:
            return
        if not abort:
            self.transport.write(b"0\r\n\r\n")
        if abort or not self.keep_alive:
            self.close()

    def close(self) -> None:
        """Close the connection after flushing what was written."""
        if self.transport is not None:
            self.transport.close()
