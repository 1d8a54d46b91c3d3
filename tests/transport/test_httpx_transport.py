"""The openai SDK (as ragas uses it) sending through ``HttpxTransport``: the keep-alive
transport and the one retry policy under an unchanged SDK, against the scripted server."""

from __future__ import annotations

import asyncio
import socket

import httpx
import openai
import pytest
from openai import AsyncOpenAI

from llmops.testing import ManualClock, Reply, ScriptedLLMServer
from llmops.transport import RetryPolicy
from llmops.transport.httpx_adapter import HttpxTransport

MSG = [{"role": "user", "content": "hi"}]


def _client(base_url: str, transport: HttpxTransport) -> AsyncOpenAI:
    return AsyncOpenAI(
        base_url=base_url,
        api_key="k",
        max_retries=0,
        http_client=httpx.AsyncClient(transport=transport),
    )


def _ask(base_url: str, transport: HttpxTransport) -> str:
    """Send one chat completion through the SDK over ``transport``; the SDK's errors propagate."""

    async def main() -> str:
        client = _client(base_url, transport)
        try:
            out = await client.chat.completions.create(model="m", messages=MSG)  # type: ignore[arg-type]
        finally:
            await client.close()
        return out.choices[0].message.content or ""

    return asyncio.run(main())


def test_sdk_calls_retry_by_the_policy(srv: ScriptedLLMServer) -> None:
    clock = ManualClock()
    retries: list[int | None] = []
    sent = [0]
    transport = HttpxTransport(
        retry=RetryPolicy(attempts=4, backoff=0.01, sleep=clock.sleep),
        on_retry=lambda e, d, n: retries.append(e.status),
        on_request=lambda: sent.__setitem__(0, sent[0] + 1),
    )
    srv.enqueue(Reply(status=503), Reply(status=429, retry_after=3), Reply(content="third"))
    assert _ask(srv.base_url, transport) == "third"
    assert retries == [503, 429] and clock.waits[1] == 3.0 and sent[0] == 3
    assert len(srv.requests) == 3
    # the SDK's own headers reach the server; the transport's own framing replaces httpx's
    assert srv.requests[-1]["headers"]["authorization"] == "Bearer k"


def test_a_retryable_answer_that_persists_reaches_the_sdk_as_itself(
    srv: ScriptedLLMServer,
) -> None:
    clock = ManualClock()
    srv.set_responder(lambda _b: Reply(status=429, retry_after=2))
    transport = HttpxTransport(retry=RetryPolicy(attempts=2, sleep=clock.sleep))
    with pytest.raises(openai.RateLimitError) as info:
        _ask(srv.base_url, transport)
    assert info.value.response.headers["retry-after"] == "2"
    assert clock.waits == [2.0] and len(srv.requests) == 2


def test_streams_and_client_errors_pass_through(srv: ScriptedLLMServer) -> None:
    transport = HttpxTransport(retry=RetryPolicy(attempts=3, backoff=0.01))

    async def main() -> tuple[str, int]:
        client = _client(srv.base_url, transport)
        try:
            stream = await client.chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": "one two three"}],
                stream=True,
            )
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            srv.enqueue(Reply(status=400, error={"message": "bad param", "type": "x"}))
            try:
                await client.chat.completions.create(model="m", messages=MSG)  # type: ignore[arg-type]
            except openai.BadRequestError as exc:
                return text, exc.status_code
            return text, 200
        finally:
            await client.close()

    text, status = asyncio.run(main())
    assert text == "echo: one two three" and status == 400
    # the 400 was not retried
    assert len([r for r in srv.requests if r["method"] == "POST"]) == 2


def test_no_answer_is_a_connection_error_after_the_retries() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clock = ManualClock()
    transport = HttpxTransport(retry=RetryPolicy(attempts=3, backoff=0.01, sleep=clock.sleep))
    with pytest.raises(openai.APIConnectionError):
        _ask(f"http://127.0.0.1:{port}/v1", transport)
    assert len(clock.waits) == 2


def test_a_read_timeout_is_the_sdks_timeout_error(srv: ScriptedLLMServer) -> None:
    srv.enqueue(Reply(delay=1.0))
    transport = HttpxTransport(read_timeout=0.2, retry=RetryPolicy.never())
    with pytest.raises(openai.APITimeoutError):
        _ask(srv.base_url, transport)


def test_a_cut_stream_is_an_error_not_a_short_answer(srv: ScriptedLLMServer) -> None:
    srv.enqueue(Reply(content="a b c d e f g h", close_mid_stream=True))
    transport = HttpxTransport(retry=RetryPolicy.never())

    async def main() -> str:
        client = _client(srv.base_url, transport)
        try:
            stream = await client.chat.completions.create(
                model="m",
                messages=MSG,  # type: ignore[arg-type]
                stream=True,
            )
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        finally:
            await client.close()

    with pytest.raises((httpx.ReadError, openai.APIError)):
        asyncio.run(main())
