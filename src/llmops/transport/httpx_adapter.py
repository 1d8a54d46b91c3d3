"""An ``httpx`` transport over the keep-alive transport and the retry policy, for SDK clients.

Libraries that take an ``openai.AsyncOpenAI`` client (ragas' ``llm_factory``) keep their own
request building and response parsing; only the bytes go through ``transport.http``, and
retries follow ``RetryPolicy`` (give the SDK ``max_retries=0``)::

    client = AsyncOpenAI(base_url=url, api_key=key, max_retries=0,
                         http_client=httpx.AsyncClient(transport=HttpxTransport()))

A retryable answer (408, 429, 5xx) that keeps coming is returned as the final response, so the
SDK raises its usual status error; a request that never got an answer raises ``httpx``'s
``ReadTimeout``/``ConnectError``, which the SDK maps to its timeout and connection errors.
Timeouts are the transport's (``connect_timeout``, ``read_timeout``), not the client's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping

import httpx

from llmops.errors import UpstreamError
from llmops.transport.exchange import RETRY_STATUSES, status_error, transport_error
from llmops.transport.http import HttpEndpoint, HttpResponse, UpstreamClosedError
from llmops.transport.retry import RetryHook, RetryPolicy

__all__ = ["HttpxTransport"]

# Hop-by-hop or transport-owned request headers: the keep-alive client writes its own.
_DROP = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "accept-encoding", "keep-alive"}
)


class _FinalAnswer(UpstreamError):
    """A retryable HTTP answer, kept whole so the last one can be handed to the SDK."""

    def __init__(self, error: UpstreamError, status: int, headers: Mapping[str, str], raw: bytes):
        super().__init__(
            error.message,
            provider=error.provider,
            status=error.status,
            request_id=error.request_id,
            retry_after=error.retry_after,
        )
        kept = {
            k: v for k, v in headers.items() if k not in ("transfer-encoding", "content-length")
        }
        self.answer = (status, kept, raw)


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: HttpResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for piece in self._response.iter_chunks():
                yield piece
        except (OSError, TimeoutError, UpstreamClosedError) as exc:
            raise httpx.ReadError(f"upstream broke off the body: {exc}") from None

    async def aclose(self) -> None:
        self._response.release()


class HttpxTransport(httpx.AsyncBaseTransport):
    """``httpx.AsyncBaseTransport`` sending through ``HttpEndpoint`` with a ``RetryPolicy``."""

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float | None = 60.0,
        retry: RetryPolicy | None = None,
        on_retry: RetryHook | None = None,
        on_request: Callable[[], None] | None = None,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.retry = retry or RetryPolicy()
        self._on_retry = on_retry
        self._on_request = on_request
        self._endpoints: dict[tuple[str, str, int | None], HttpEndpoint] = {}

    def _endpoint(self, url: httpx.URL) -> HttpEndpoint:
        key = (url.scheme, url.host, url.port)
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            port = f":{url.port}" if url.port else ""
            host = f"[{url.host}]" if ":" in url.host else url.host  # an IPv6 literal
            endpoint = HttpEndpoint(
                f"{url.scheme}://{host}{port}",
                connect_timeout=self.connect_timeout,
                read_timeout=self.read_timeout,
            )
            self._endpoints[key] = endpoint
        return endpoint

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``; retry per the policy; return the (last) response."""
        endpoint = self._endpoint(request.url)
        body = await request.aread()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP}
        target = request.url.raw_path.decode("ascii")
        who = f"{request.url.scheme}://{request.url.netloc.decode('ascii')}"

        async def attempt() -> HttpResponse:
            if self._on_request is not None:
                self._on_request()
            try:
                response = await endpoint.request(
                    request.method, target, body, headers=headers, root=True
                )
            except (OSError, TimeoutError, UpstreamClosedError) as exc:
                raise transport_error(who, exc) from None
            if response.status >= 500 or response.status in RETRY_STATUSES:
                raw = await response.read_or(b"")
                error = status_error(who, response.status, raw, response.headers)
                raise _FinalAnswer(error, response.status, response.headers, raw)
            return response

        try:
            response = await self.retry.run(attempt, on_retry=self._on_retry)
        except _FinalAnswer as final:
            status, answer_headers, raw = final.answer
            return httpx.Response(status, headers=answer_headers, content=raw, request=request)
        except UpstreamError as exc:
            if exc.status == 504:
                raise httpx.ReadTimeout(exc.message, request=request) from None
            raise httpx.ConnectError(exc.message, request=request) from None
        return httpx.Response(
            response.status,
            headers=list(response.headers.items()),
            stream=_Body(response),
            request=request,
        )

    async def aclose(self) -> None:
        """Close idle connections."""
        for endpoint in self._endpoints.values():
            endpoint.close()
        self._endpoints.clear()
