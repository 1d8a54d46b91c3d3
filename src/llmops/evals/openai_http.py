"""Chat calls to an OpenAI-compatible endpoint (a gateway route, vLLM, OpenAI, a judge).

One ``AsyncOpenAI`` client per event loop (a client reused across ``asyncio.run`` calls retries
silently on the dead loop), SDK retries off because ``ModelCaller`` owns the retry policy, and
SDK errors mapped to ``UpstreamError`` with status, request id and Retry-After.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from llmops.errors import UpstreamError

if TYPE_CHECKING:
    from openai import AsyncOpenAI

__all__ = ["ChatEndpoint"]


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class ChatEndpoint:
    """An OpenAI-compatible chat endpoint; create and close it inside one event loop."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key_env: str | None = None,
        timeout: float = 60.0,
        name: str = "endpoint",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.name = name
        self._client: AsyncOpenAI | None = None
        # Import the SDK's chat types now: their first import builds ~1,700 pydantic classes
        # (seconds of CPU) and would stall the event loop in the middle of the run.
        import openai.resources.chat.completions  # noqa: F401
        import openai.types.chat  # noqa: F401

    def api_key(self) -> str:
        """Return the API key from the configured environment variable (or a placeholder)."""
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        return key or "not-needed"

    def _get_client(self) -> AsyncOpenAI:
        if self._client is None:
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(
                base_url=self.base_url,
                api_key=self.api_key(),
                max_retries=0,
                timeout=self.timeout,
            )
        return self._client

    async def chat(
        self, model: str, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> dict[str, Any]:
        """Return ``{content, model, usage, headers, extra, latency_ms}`` for one completion."""
        import openai

        client = self._get_client()
        started = time.perf_counter()
        try:
            raw = await client.chat.completions.with_raw_response.create(
                model=model,
                messages=messages,  # type: ignore[arg-type]
                **params,
            )
            completion = raw.parse()
        except openai.APIStatusError as exc:
            raise UpstreamError(
                f"{self.name} returned HTTP {exc.status_code}: {exc.message}",
                provider=self.name,
                status=exc.status_code,
                request_id=exc.request_id,
                retry_after=_retry_after(exc.response.headers),
            ) from None
        except openai.APITimeoutError:
            raise UpstreamError(
                f"{self.name} timed out at {self.base_url}", provider=self.name, status=408
            ) from None
        except openai.APIConnectionError as exc:
            raise UpstreamError(
                f"cannot reach {self.name} at {self.base_url}: {exc}",
                provider=self.name,
                connect_error=True,
                hint="check the URL and that the server is running",
            ) from None
        except openai.APIResponseValidationError as exc:
            raise UpstreamError(
                f"{self.name} sent an invalid response: {exc}", provider=self.name, status=502
            ) from None
        choice = completion.choices[0] if completion.choices else None
        content = (choice.message.content if choice else None) or ""
        usage = completion.usage
        headers = {k.lower(): v for k, v in raw.headers.items() if k.lower().startswith("x-llmops")}
        return {
            "content": content,
            "model": completion.model,
            "usage": {
                "prompt_tokens": usage.prompt_tokens if usage else 0,
                "completion_tokens": usage.completion_tokens if usage else 0,
            },
            "headers": headers,
            "extra": dict(completion.model_extra or {}),
            "latency_ms": (time.perf_counter() - started) * 1000.0,
        }

    async def aclose(self) -> None:
        """Close the client."""
        if self._client is not None:
            await self._client.close()
            self._client = None
