"""Sending a request to a model server: the ``Sender`` seam, its one-URL implementation, and the
one mapping from HTTP outcomes to ``UpstreamError``.

A ``Sender`` POSTs a body and returns an ``Exchange`` whose body is unread (read whole, or as it
arrives for streams), retrying per a ``RetryPolicy``. ``EndpointSender`` does it for one base URL
(the ``openai`` provider, eval targets, the judge); the gateway's upstream pools implement the
same seam over several replicas with breakers. Responses with a status below 400 are returned;
so are 4xx answers nothing can fix by retrying (the caller decides what they mean); everything
retryable that keeps failing raises ``UpstreamError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import orjson

from llmops.errors import UpstreamConnectError, UpstreamError
from llmops.transport.http import HttpEndpoint, HttpResponse, UpstreamClosedError
from llmops.transport.retry import RetryPolicy, parse_retry_after

__all__ = [
    "Answer",
    "EndpointSender",
    "Exchange",
    "Sender",
    "error_message",
    "status_error",
    "transport_error",
]

#: Statuses retried (with 5xx): the upstream is busy or timed out, not refusing the request.
RETRY_STATUSES = frozenset({408, 429})


class Exchange(Protocol):
    """A response whose body has not been read yet; ``release()`` frees the connection."""

    @property
    def status(self) -> int:
        """The HTTP status."""
        ...

    @property
    def headers(self) -> dict[str, str]:
        """Response headers, names lower-cased."""
        ...

    @property
    def served_by(self) -> str | None:
        """Which server answered (a replica name), when the sender knows."""
        ...

    async def read(self) -> bytes:
        """Return the whole body."""
        ...

    def iter_chunks(self) -> AsyncIterator[bytes]:
        """Yield body pieces as they arrive."""
        ...

    def release(self) -> None:
        """Give the connection back (idempotent)."""
        ...


class Sender(Protocol):
    """POSTs to a model server, retrying per its policy."""

    async def post(self, path: str, body: bytes, *, request_id: str | None = None) -> Exchange:
        """Return the exchange (status < 500 and not 408/429); raise UpstreamError otherwise."""
        ...


def error_message(raw: bytes) -> str:
    """Return the ``error.message`` of an OpenAI-style error body, else its first 300 chars."""
    text = raw[:300].decode("utf-8", "replace")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return text
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return str(data["error"].get("message", text))
    if isinstance(data, dict) and isinstance(data.get("detail"), str):
        return str(data["detail"])
    return text


def status_error(
    who: str, status: int, raw: bytes, headers: Mapping[str, str], *, provider: str | None = None
) -> UpstreamError:
    """Return the UpstreamError for an HTTP error answer from ``who`` (e.g. ``upstream up/r0``)."""
    return UpstreamError(
        f"{who} returned HTTP {status}: {error_message(raw)}",
        provider=provider,
        status=status,
        request_id=headers.get("x-request-id"),
        retry_after=parse_retry_after(headers.get("retry-after")),
    )


def transport_error(who: str, exc: BaseException, *, provider: str | None = None) -> UpstreamError:
    """Return the UpstreamError for a request that got no answer (timeout, refused, cut off)."""
    if isinstance(exc, TimeoutError):  # a read timeout; connect timeouts arrive as ConnectionError
        return UpstreamError(f"{who} timed out: {exc}".rstrip(": "), provider=provider, status=504)
    return UpstreamConnectError(
        f"{who} unreachable: {type(exc).__name__}: {exc}".rstrip(": "),
        provider=provider,
        hint="check the URL and that the server is running",
    )


class Answer:
    """An ``HttpResponse`` seen as an ``Exchange`` (the gateway's pools extend it per replica)."""

    __slots__ = ("response", "served_by")

    def __init__(self, response: HttpResponse, served_by: str | None) -> None:
        self.response = response
        self.served_by = served_by

    @property
    def status(self) -> int:
        """The HTTP status."""
        return self.response.status

    @property
    def headers(self) -> dict[str, str]:
        """Response headers, names lower-cased."""
        return self.response.headers

    async def read(self) -> bytes:
        """Return the whole body."""
        return await self.response.read()

    def iter_chunks(self) -> AsyncIterator[bytes]:
        """Yield body pieces as they arrive."""
        return self.response.iter_chunks()

    def release(self) -> None:
        """Return the connection (idempotent)."""
        self.response.release()


class EndpointSender:
    """A ``Sender`` for one base URL (``.../v1``) over the keep-alive transport."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float | None = 60.0,
        retry: RetryPolicy | None = None,
        name: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name or self.base_url
        self.retry = retry or RetryPolicy()
        self.endpoint = HttpEndpoint(
            self.base_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            headers=headers,
        )

    async def post(self, path: str, body: bytes, *, request_id: str | None = None) -> Exchange:
        """POST ``body`` to ``base_url + path``; see ``Sender.post``."""
        extra = {"X-Request-Id": request_id} if request_id else None

        async def attempt() -> Exchange:
            try:
                response = await self.endpoint.request("POST", path, body, headers=extra)
            except (OSError, TimeoutError, UpstreamClosedError) as exc:
                raise transport_error(self.name, exc) from None
            if response.status >= 500 or response.status in RETRY_STATUSES:
                raw = await response.read_or(b"(unreadable body)")
                raise status_error(self.name, response.status, raw, response.headers)
            return Answer(response, None)

        return await self.retry.run(attempt)

    def close(self) -> None:
        """Close idle connections."""
        self.endpoint.close()
