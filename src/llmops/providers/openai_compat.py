"""Provider kind ``openai``: any OpenAI-compatible endpoint (vLLM, OpenAI, the gateway itself).

Used by the eval runner and the judge; the gateway's own hot path forwards raw bytes instead.
Retries connection errors, 408, 429 and 5xx with jittered backoff, honouring Retry-After.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from llmops.errors import ConfigError, UpstreamError
from llmops.providers.base import ChatDelta, ChatRequest, ChatResult, Usage, register_provider

if TYPE_CHECKING:
    import httpx

__all__ = ["OpenAICompatProvider"]


class OpenAICompatProvider:
    """Chat completions over HTTP against ``base_url`` (``.../v1``)."""

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        *,
        api_key_env: str | None = None,
        api_key: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_retries: int = 2,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
        headers: dict[str, str] | None = None,
        id: str | None = None,  # noqa: A002 - the Provider protocol's attribute name
    ) -> None:
        if not base_url:
            raise ConfigError(
                "provider 'openai' needs a base_url",
                hint="e.g. base_url: http://127.0.0.1:8000/v1 (vLLM) or https://api.openai.com/v1",
            )
        if not model:
            raise ConfigError("provider 'openai' needs a model id", hint="e.g. model: gpt-4o-mini")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.id = id or f"openai:{model}"
        key = api_key or (os.environ.get(api_key_env) if api_key_env else None)
        if api_key_env and not key:
            raise ConfigError(
                f"environment variable {api_key_env} is not set",
                hint=f"export {api_key_env}=<key> (it holds the API key for {self.base_url})",
            )
        self._headers = {"content-type": "application/json", **(headers or {})}
        if key:
            self._headers["authorization"] = f"Bearer {key}"
        self._timeouts = (connect_timeout, read_timeout)
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> httpx.AsyncClient:
        import httpx

        loop = asyncio.get_running_loop()
        # A client is bound to the loop it was first used on; asyncio.run() per call (evals,
        # the judge) gets a fresh one instead of a silently broken pool.
        if self._client is None or self._loop is not loop:
            connect, read = self._timeouts
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(read, connect=connect),
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
            )
            self._loop = loop
        return self._client

    def _body(self, request: ChatRequest, stream: bool) -> bytes:
        data: dict[str, Any] = {"model": self.model, "messages": request.messages}
        for name in (
            "temperature",
            "top_p",
            "max_tokens",
            "stop",
            "response_format",
            "seed",
            "user",
        ):
            value = getattr(request, name)
            if value is not None:
                data[name] = value
        data.update({k: v for k, v in request.extra.items() if k != "question"})
        if stream:
            data["stream"] = True
            data["stream_options"] = {"include_usage": True}
        return orjson.dumps(data)

    def _error(
        self, status: int | None, text: str, headers: Any = None, connect: bool = False
    ) -> UpstreamError:
        retry_after = None
        if headers is not None and headers.get("retry-after"):
            try:
                retry_after = float(headers["retry-after"])
            except ValueError:
                retry_after = None
        message = text
        try:
            data = orjson.loads(text)
            if isinstance(data, dict) and isinstance(data.get("error"), dict):
                message = str(data["error"].get("message", text))
        except orjson.JSONDecodeError:
            pass
        return UpstreamError(
            f"{self.id} at {self.base_url}: "
            + (f"HTTP {status}: " if status else "")
            + message[:300],
            provider=self.id,
            status=status,
            request_id=headers.get("x-request-id") if headers is not None else None,
            retry_after=retry_after,
            connect_error=connect,
        )

    async def _send(self, body: bytes, stream: bool) -> httpx.Response:
        import httpx

        client = self._http()
        attempt = 0
        while True:
            try:
                req = client.build_request(
                    "POST", self.base_url + "/chat/completions", content=body, headers=self._headers
                )
                response = await client.send(req, stream=stream)
                if response.status_code < 400:
                    return response
                text = (await response.aread()).decode("utf-8", "replace")
                await response.aclose()
                error = self._error(response.status_code, text, response.headers)
            except httpx.TimeoutException as exc:
                error = self._error(408, f"timed out: {type(exc).__name__}")
            except httpx.TransportError as exc:
                error = self._error(
                    None, f"cannot connect: {type(exc).__name__}: {exc}", connect=True
                )
            if not error.is_retryable() or attempt >= self.max_retries:
                raise error
            delay = error.retry_after
            if delay is None:
                ceiling = min(self.max_backoff, self.backoff * 2**attempt)
                delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter
            await asyncio.sleep(min(delay, self.max_backoff * 4))
            attempt += 1

    async def complete(self, request: ChatRequest) -> ChatResult:
        """Return the whole answer."""
        response = await self._send(self._body(request, False), False)
        try:
            data = orjson.loads(response.content)
            choice = data["choices"][0]
            content = choice["message"].get("content") or ""
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
            raise self._error(502, f"invalid response: {response.text[:200]}") from None
        usage = data.get("usage") or {}
        return ChatResult(
            content=content,
            model=str(data.get("model", self.model)),
            finish_reason=choice.get("finish_reason") or "stop",
            usage=Usage(
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
            ),
            raw=data,
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        """Yield the answer in pieces; the last one carries finish_reason and usage."""
        response = await self._send(self._body(request, True), True)
        finish: str | None = None
        usage: Usage | None = None
        done = False
        try:
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    done = True
                    break
                try:
                    chunk = orjson.loads(payload)
                except orjson.JSONDecodeError:
                    raise self._error(502, f"invalid stream chunk: {payload[:120]}") from None
                if isinstance(chunk.get("error"), dict):
                    raise self._error(502, orjson.dumps(chunk).decode())
                if isinstance(chunk.get("usage"), dict):
                    u = chunk["usage"]
                    usage = Usage(
                        prompt_tokens=int(u.get("prompt_tokens") or 0),
                        completion_tokens=int(u.get("completion_tokens") or 0),
                    )
                for choice in chunk.get("choices") or ():
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        yield ChatDelta(content=text)
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
        except UpstreamError:
            raise
        except Exception as exc:  # a stream cut short is an upstream failure, not a crash
            raise self._error(502, f"stream broke: {type(exc).__name__}: {exc}") from None
        finally:
            await response.aclose()
        if not done:
            raise self._error(502, "the stream ended before [DONE]")
        yield ChatDelta(finish_reason=finish or "stop", usage=usage)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


register_provider("openai", OpenAICompatProvider)
register_provider("vllm", OpenAICompatProvider)
