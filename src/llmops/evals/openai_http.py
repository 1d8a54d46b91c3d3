"""Chat calls to an OpenAI-compatible endpoint (a gateway route, vLLM, OpenAI, a judge).

A thin face on the ``openai`` provider (``providers.openai_compat``), so eval targets and the
judge send through the same transport and retry policy as the gateway. Inside the run's
``ModelCaller`` (which retries whole calls with the same policy) the provider's own policy makes
one attempt: nested policies do not multiply (``transport.retry``).
"""

from __future__ import annotations

import os
import time
from typing import Any

from llmops.providers.base import ChatRequest
from llmops.providers.openai_compat import OpenAICompatProvider, OpenAIOptions
from llmops.transport import EndpointSender, RetryPolicy

__all__ = ["ChatEndpoint"]

#: Fields of a ``chat.completion`` object; anything else in a reply is an extension (``extra``).
_COMPLETION_FIELDS = frozenset(
    {"id", "object", "created", "model", "choices", "usage", "system_fingerprint", "service_tier"}
)


class ChatEndpoint:
    """An OpenAI-compatible chat endpoint; create and close it inside one event loop."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key_env: str | None = None,
        timeout: float = 60.0,
        name: str = "endpoint",
        retry: RetryPolicy | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.name = name
        self._retry = retry or RetryPolicy()
        self._sender: EndpointSender | None = None
        self._providers: dict[str, OpenAICompatProvider] = {}

    def api_key(self) -> str:
        """Return the API key from the configured environment variable (or a placeholder)."""
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        return key or "not-needed"

    def _provider(self, model: str) -> OpenAICompatProvider:
        if self._sender is None:
            self._sender = EndpointSender(
                self.base_url,
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {self.api_key()}",
                },
                read_timeout=self.timeout,
                retry=self._retry,
                name=f"{self.name} at {self.base_url}",
            )
        provider = self._providers.get(model)
        if provider is None:
            options = OpenAIOptions(base_url=self.base_url, model=model, id=self.name)
            provider = OpenAICompatProvider(options, sender=self._sender)
            self._providers[model] = provider
        return provider

    async def chat(
        self, model: str, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> dict[str, Any]:
        """Return ``{content, model, usage, headers, extra, latency_ms}`` for one completion."""
        started = time.perf_counter()
        request = ChatRequest(model=model, messages=messages, extra=dict(params))
        result = await self._provider(model).complete(request)
        headers = {k: v for k, v in result.headers.items() if k.startswith("x-llmops")}
        raw = result.raw or {}
        return {
            "content": result.content,
            "model": result.model,
            "usage": {
                "prompt_tokens": result.usage.prompt_tokens,
                "completion_tokens": result.usage.completion_tokens,
            },
            "headers": headers,
            "extra": {k: v for k, v in raw.items() if k not in _COMPLETION_FIELDS},
            "latency_ms": (time.perf_counter() - started) * 1000.0,
        }

    async def aclose(self) -> None:
        """Close the connections."""
        if self._sender is not None:
            self._sender.close()
            self._sender = None
        self._providers.clear()
