"""Provider kind ``openai`` (alias ``vllm``): any OpenAI-compatible endpoint (vLLM, OpenAI, a
llmops gateway route).

It sends through a ``transport.Sender``: by default an ``EndpointSender`` for ``base_url`` (the
keep-alive transport with the one ``RetryPolicy``); the gateway hands its upstream pools in
instead. Eval targets and the judge use it; retries follow the policy (connection errors,
timeouts, 408, 429, 5xx; Retry-After honoured up to ``max_retry_after``, longer = fail now).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llmops.errors import ConfigError, UpstreamError
from llmops.providers.base import ChatDelta, ChatRequest, ChatResult, Usage, parse_options
from llmops.providers.openai_wire import (
    WireError,
    parse_chunk,
    parse_completion,
    request_body,
    sse_payloads,
)
from llmops.transport import EndpointSender, Exchange, RetryPolicy, Sender, status_error
from llmops.transport.retry import Sleep

__all__ = ["OpenAICompatProvider", "OpenAIOptions"]


class OpenAIOptions(BaseModel):
    """Options of an ``openai`` provider (``create_provider("openai", **options)``)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(None, description="API root, e.g. http://127.0.0.1:8000/v1")
    model: str | None = Field(None, description="model id sent upstream")
    api_key_env: str | None = Field(None, description="env var holding the API key")
    api_key: str | None = Field(None, repr=False, description="the key itself (tests, scripts)")
    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(60.0, gt=0, description="seconds per wait on the server")
    max_retries: int = Field(2, ge=0, description="retries after the first attempt")
    backoff: float = Field(0.2, ge=0, description="first backoff in seconds (full jitter)")
    max_backoff: float = Field(5.0, ge=0)
    max_retry_after: float = Field(20.0, ge=0, description="fail at once on a longer Retry-After")
    headers: dict[str, str] = Field(default_factory=dict, description="sent with every request")
    id: str | None = Field(None, description="provider id in errors and lineage")

    def retry(self, sleep: Sleep | None = None) -> RetryPolicy:
        """Return the retry policy these options describe (waiting with ``sleep``)."""
        return RetryPolicy(
            attempts=self.max_retries + 1,
            backoff=self.backoff,
            max_backoff=self.max_backoff,
            max_retry_after=self.max_retry_after,
            sleep=sleep,
        )


class OpenAICompatProvider:
    """Chat completions against an OpenAI-compatible server, through a ``Sender``."""

    def __init__(
        self, options: OpenAIOptions, *, sender: Sender | None = None, sleep: Sleep | None = None
    ) -> None:
        if sender is None and not options.base_url:
            raise ConfigError(
                "provider 'openai' needs a base_url",
                hint="e.g. base_url: http://127.0.0.1:8000/v1 (vLLM) or https://api.openai.com/v1",
            )
        self.options = options
        self.model = options.model
        self.base_url = (options.base_url or "").rstrip("/")
        self.id = options.id or f"openai:{options.model or 'model'}"
        self._sender = sender
        self._sleep = sleep
        self._owned: EndpointSender | None = None

    def _headers(self) -> dict[str, str]:
        opts = self.options
        key = opts.api_key or (os.environ.get(opts.api_key_env) if opts.api_key_env else None)
        if opts.api_key_env and not key:
            raise ConfigError(
                f"environment variable {opts.api_key_env} is not set",
                hint=f"export {opts.api_key_env}=<key> (it holds the API key for {self.base_url})",
            )
        headers = {"Content-Type": "application/json", **opts.headers}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def sender(self) -> Sender:
        """Return the sender (for ``base_url``: one keep-alive endpoint, made on first use)."""
        if self._sender is not None:
            return self._sender
        if self._owned is None:
            self._owned = EndpointSender(
                self.base_url,
                headers=self._headers(),
                connect_timeout=self.options.connect_timeout,
                read_timeout=self.options.read_timeout,
                retry=self.options.retry(self._sleep),
                name=f"{self.id} at {self.base_url}",
            )
        return self._owned

    def _who(self) -> str:
        return f"{self.id} at {self.base_url}" if self.base_url else self.id

    def _invalid(self, what: str) -> UpstreamError:
        return UpstreamError(f"{self._who()}: {what}", provider=self.id, status=502)

    async def _send(self, request: ChatRequest, stream: bool) -> Exchange:
        body = request_body(request, self.model or request.model, stream=stream)
        exchange = await self.sender().post("/chat/completions", body)
        if exchange.status >= 400:
            try:
                raw = await exchange.read()
            finally:
                exchange.release()
            raise status_error(
                self._who(), exchange.status, raw, exchange.headers, provider=self.id
            )
        return exchange

    async def complete(self, request: ChatRequest) -> ChatResult:
        """Return the whole answer (every choice when ``n > 1``)."""
        exchange = await self._send(request, False)
        try:
            raw = await exchange.read()
        except Exception as exc:  # the server broke the body off
            raise self._invalid(f"the response broke off: {type(exc).__name__}") from None
        finally:
            exchange.release()
        try:
            result = parse_completion(raw, model=self.model or request.model)
        except WireError as exc:
            raise self._invalid(str(exc)) from None
        result.headers = dict(exchange.headers)
        return result

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        """Yield the answer in pieces; each choice ends with its finish_reason, usage comes last."""
        exchange = await self._send(request, True)
        finish: dict[int, str] = {}
        usage: Usage | None = None
        done = False
        try:
            async for payload in sse_payloads(exchange.iter_chunks()):
                if payload == b"[DONE]":
                    done = True
                    break
                for delta in parse_chunk(payload):
                    if delta.usage is not None:
                        usage = delta.usage
                    if delta.finish_reason:
                        finish[delta.index] = delta.finish_reason
                    if delta.content:
                        yield ChatDelta(content=delta.content, index=delta.index)
        except WireError as exc:
            raise self._invalid(str(exc)) from None
        except UpstreamError:
            raise
        except Exception as exc:  # a stream cut short is an upstream failure, not a crash
            raise self._invalid(f"stream broke: {type(exc).__name__}: {exc}") from None
        finally:
            exchange.release()
        if not done:
            raise self._invalid("the stream ended before [DONE]")
        indexes = sorted(finish) or [0]
        for i in indexes:
            yield ChatDelta(
                index=i,
                finish_reason=finish.get(i, "stop"),
                usage=usage if i == indexes[-1] else None,
            )

    async def aclose(self) -> None:
        """Close the connections this provider opened (a handed-in sender stays open)."""
        if self._owned is not None:
            self._owned.close()
            self._owned = None


def create(**options: Any) -> OpenAICompatProvider:
    """Build the provider from gateway/eval options, with file-style errors on bad keys."""
    opts = parse_options(OpenAIOptions, options, "openai provider")
    if not opts.base_url:
        raise ConfigError(
            "provider 'openai' needs a base_url",
            hint="e.g. base_url: http://127.0.0.1:8000/v1 (vLLM) or https://api.openai.com/v1",
        )
    if not opts.model:
        raise ConfigError("provider 'openai' needs a model id", hint="e.g. model: gpt-4o-mini")
    provider = OpenAICompatProvider(opts)
    provider._headers()  # a missing key variable is a configuration error now, not at first call
    return provider
