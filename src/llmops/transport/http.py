"""The one HTTP transport to model servers: keep-alive HTTP/1.1 (asyncio protocol + httptools).

General-purpose clients (aiohttp, httpx) spend several times the CPU of the upstream itself per
request; model calls only need POST/GET with a body, status, headers and a body read whole or
as it arrives, so this speaks HTTP/1.1 directly on pooled connections. The gateway's upstream
pools, the ``openai`` provider (eval targets, the judge) and, through ``httpx_adapter``, SDK
clients such as ragas' all send through it. Timeouts: ``connect`` to open a connection, ``read``
for each wait on the upstream (headers, then every body piece).

Connections belong to the event loop that opened them; an endpoint used from a new loop (each
``asyncio.run`` of an eval or a test) forgets the idle connections of the old one.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httptools

__all__ = ["HttpEndpoint", "HttpResponse", "UpstreamClosedError"]


class UpstreamClosedError(ConnectionError):
    """The upstream closed the connection before the response was complete."""


def _expire(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError("upstream read timed out"))


async def _wait(fut: asyncio.Future[Any], timeout: float | None) -> Any:
    # call_later + a plain future is far cheaper than asyncio.wait_for's task per wait.
    if timeout is None:
        return await fut
    handle = asyncio.get_running_loop().call_later(timeout, _expire, fut)
    try:
        return await fut
    finally:
        handle.cancel()


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.got_headers = False
        self.complete = False
        self.keep_alive = True
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None

    def reset(self) -> None:
        self.status = 0
        self.headers = {}
        self.chunks = []
        self.got_headers = False
        self.complete = False
        self.error = None
        self.waiter = None

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = UpstreamClosedError(f"invalid HTTP from upstream: {exc}")
            self.keep_alive = False
            self._wake()
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if (
            exc is None
            and self.got_headers
            and not self.complete
            and "content-length" not in self.headers
            and "chunked" not in self.headers.get("transfer-encoding", "")
        ):
            # A body delimited by closing the connection (HTTP/1.0 style) ends here.
            self.complete = True
            self.keep_alive = False
        if not self.complete and self.error is None:
            self.error = UpstreamClosedError(
                "upstream closed the connection" + (f": {exc}" if exc else "")
            )
        self._wake()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.got_headers = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()
        self._wake()

    async def wait(self, timeout: float | None) -> None:
        self.waiter = asyncio.get_running_loop().create_future()
        await _wait(self.waiter, timeout)


class HttpResponse:
    """A response whose body is read whole (``read``) or as it arrives (``iter_chunks``)."""

    __slots__ = ("_conn", "_endpoint", "_released", "headers", "status")

    def __init__(self, endpoint: HttpEndpoint, conn: _Connection) -> None:
        self._endpoint = endpoint
        self._conn = conn
        self._released = False
        self.status = conn.status
        self.headers = conn.headers

    async def read(self) -> bytes:
        """Return the whole body."""
        conn = self._conn
        while not conn.complete:
            if conn.error is not None:
                raise conn.error
            await conn.wait(self._endpoint.read_timeout)
        return b"".join(conn.chunks)

    async def read_or(self, fallback: bytes) -> bytes:
        """Return the whole body, or ``fallback`` if it broke off; release the connection either way.

        For bodies that are only informative (an error's), where a broken read must not hide the
        status that is being reported.
        """
        try:
            return await self.read()
        except (OSError, TimeoutError, UpstreamClosedError):
            return fallback
        finally:
            self.release()

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """Yield body pieces as they arrive; raise if the upstream breaks off."""
        conn = self._conn
        while True:
            if conn.chunks:
                data = b"".join(conn.chunks) if len(conn.chunks) > 1 else conn.chunks[0]
                conn.chunks = []
                yield data
                continue
            if conn.complete:
                return
            if conn.error is not None:
                raise conn.error
            await conn.wait(self._endpoint.read_timeout)

    def release(self) -> None:
        """Return the connection to the pool (or close it if the exchange did not finish)."""
        if self._released:
            return
        self._released = True
        self._endpoint.put_back(self._conn)


class HttpEndpoint:
    """Keep-alive connections to one ``scheme://host:port``."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float,
        read_timeout: float | None,
        max_idle: int = 1000,
        headers: dict[str, str] | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.ssl: ssl.SSLContext | None = (
            ssl.create_default_context() if parts.scheme == "https" else None
        )
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_idle = max_idle
        name = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal
        host_header = name if parts.port is None else f"{name}:{self.port}"
        static = f"Host: {host_header}\r\n"
        for name, value in (headers or {}).items():
            static += f"{name}: {value}\r\n"
        self._static = static.encode("latin-1")
        self._idle: list[_Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    _Connection,
                    self.host,
                    self.port,
                    ssl=self.ssl,
                    server_hostname=self.host if self.ssl else None,
                ),
                self.connect_timeout,
            )
        except TimeoutError:
            # Not a read timeout: nothing was sent, so it is as retryable as a refused connection.
            raise ConnectionError(f"connect to {self.host}:{self.port} timed out") from None
        return conn

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        headers: dict[str, str] | None = None,
        root: bool = False,
    ) -> HttpResponse:
        """Send a request and return once the response headers arrived.

        ``path`` is relative to the URL's path unless ``root`` (health checks use server paths).
        Raises OSError/UpstreamClosedError on connection problems, TimeoutError on timeouts.
        """
        target = path if root else self.prefix + path
        head = f"{method} {target} HTTP/1.1\r\nContent-Length: {len(body)}\r\n".encode("latin-1")
        extra = (
            "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode("latin-1")
            if headers
            else b""
        )
        payload = head + self._static + extra + b"\r\n" + body
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # Connections of another (finished) loop cannot be used or even closed from here.
            self._idle = []
            self._loop = loop
        for attempt in (0, 1):
            reused = False
            conn: _Connection | None = None
            while self._idle:
                candidate = self._idle.pop()
                if not candidate.closed:
                    conn, reused = candidate, True
                    break
            if conn is None:
                conn = await self._connect()
            conn.reset()
            if conn.transport is None:  # connection_made always ran; keeps the type checker calm
                raise UpstreamClosedError("connection has no transport")
            conn.transport.write(payload)
            try:
                while not conn.got_headers:
                    if conn.error is not None:
                        raise conn.error
                    await conn.wait(self.read_timeout)
            except UpstreamClosedError:
                conn.keep_alive = False
                self.put_back(conn)
                # A kept-alive connection the server had already closed: retry once, fresh.
                if reused and attempt == 0:
                    continue
                raise
            except BaseException:
                conn.keep_alive = False
                self.put_back(conn)
                raise
            return HttpResponse(self, conn)
        raise UpstreamClosedError("upstream closed the connection")  # pragma: no cover

    def put_back(self, conn: _Connection) -> None:
        """Keep a finished keep-alive connection for reuse; close anything else."""
        if (
            conn.complete
            and conn.keep_alive
            and not conn.closed
            and len(self._idle) < self.max_idle
        ):
            self._idle.append(conn)
        elif conn.transport is not None and not conn.closed:
            conn.transport.close()

    def close(self) -> None:
        """Close idle connections.

        Connections made on a loop that has since closed (a library that ran its own
        ``asyncio.run``) cannot be closed through it: they are dropped, as ``request`` does.
        """
        if self._loop is None or not self._loop.is_closed():
            for conn in self._idle:
                if conn.transport is not None:
                    conn.transport.close()
        self._idle.clear()
