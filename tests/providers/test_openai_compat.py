"""Provider kind ``openai`` against the scripted OpenAI-compatible server on loopback."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from llmops.errors import ConfigError, UpstreamError
from llmops.providers import ChatRequest, create_provider
from llmops.providers.openai_compat import OpenAICompatProvider, OpenAIOptions
from llmops.testing import ManualClock, Reply, ScriptedLLMServer


def _req(text: str = "hi", **kw: object) -> ChatRequest:
    return ChatRequest(model="ignored", messages=[{"role": "user", "content": text}], **kw)  # type: ignore[arg-type]


def test_complete_sends_the_model_and_params(srv: ScriptedLLMServer) -> None:
    provider = create_provider("openai", base_url=srv.base_url, model="m1")
    srv.enqueue(Reply(content="hello back", usage={"prompt_tokens": 4, "completion_tokens": 2}))
    result = asyncio.run(provider.complete(_req(temperature=0.2, max_tokens=9, extra={"top_k": 5})))
    assert result.content == "hello back"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (4, 2)
    sent = srv.requests[-1]["json"]
    assert sent["model"] == "m1" and sent["temperature"] == 0.2 and sent["max_tokens"] == 9
    assert sent["top_k"] == 5


def test_stream_yields_pieces_then_finish_and_usage(srv: ScriptedLLMServer) -> None:
    provider = create_provider("vllm", base_url=srv.base_url, model="m1")

    async def collect() -> list:
        return [d async for d in provider.stream(_req("one two three"))]

    deltas = asyncio.run(collect())
    assert "".join(d.content for d in deltas) == "echo: one two three"
    assert deltas[-1].finish_reason == "stop" and deltas[-1].usage is not None


def test_retries_then_raises_upstream_error(srv: ScriptedLLMServer) -> None:
    provider = create_provider(
        "openai", base_url=srv.base_url, model="m", max_retries=2, backoff=0.01
    )
    srv.enqueue(Reply(status=503), Reply(content="recovered"))
    assert asyncio.run(provider.complete(_req())).content == "recovered"
    srv.set_responder(lambda _b: Reply(status=429, retry_after=0.01))
    with pytest.raises(UpstreamError) as info:
        asyncio.run(provider.complete(_req()))
    assert info.value.status == 429 and info.value.retry_after == 0.01 and info.value.is_retryable()
    srv.set_responder(lambda _b: Reply(status=400))
    with pytest.raises(UpstreamError) as bad:
        asyncio.run(provider.complete(_req()))
    assert bad.value.status == 400 and not bad.value.is_retryable()


def test_connection_refused_is_a_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider = create_provider(
        "openai", base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=1, backoff=0.01
    )
    with pytest.raises(UpstreamError) as info:
        asyncio.run(provider.complete(_req()))
    assert info.value.connect_error


def test_garbage_and_broken_streams_are_upstream_errors(srv: ScriptedLLMServer) -> None:
    provider = create_provider("openai", base_url=srv.base_url, model="m", max_retries=0)
    srv.enqueue(Reply(raw_body=b"not json"))
    with pytest.raises(UpstreamError, match="invalid response"):
        asyncio.run(provider.complete(_req()))
    srv.enqueue(Reply(content="a b c d e f", close_mid_stream=True))

    async def drain() -> None:
        async for _ in provider.stream(_req()):
            pass

    with pytest.raises(UpstreamError):
        asyncio.run(drain())


def test_missing_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        create_provider("openai", model="m")
    with pytest.raises(ConfigError, match="NO_SUCH_KEY_VAR"):
        create_provider(
            "openai", base_url="http://127.0.0.1:1/v1", model="m", api_key_env="NO_SUCH_KEY_VAR"
        )


def _provider(
    srv: ScriptedLLMServer, clock: ManualClock, **options: object
) -> OpenAICompatProvider:
    opts = OpenAIOptions(base_url=srv.base_url, model="m", **options)  # type: ignore[arg-type]
    return OpenAICompatProvider(opts, sleep=clock.sleep)


def test_retry_after_is_honoured_then_beyond_the_limit_fails_at_once(
    srv: ScriptedLLMServer,
) -> None:
    clock = ManualClock()
    provider = _provider(srv, clock, max_retries=3, max_retry_after=30)
    srv.enqueue(Reply(status=503, retry_after=12), Reply(content="after the wait"))
    assert asyncio.run(provider.complete(_req())).content == "after the wait"
    assert clock.waits == [12.0]
    srv.reset()
    srv.set_responder(lambda _b: Reply(status=429, retry_after=31))
    with pytest.raises(UpstreamError) as info:
        asyncio.run(provider.complete(_req()))
    assert info.value.status == 429 and info.value.retry_after == 31.0
    assert clock.waits == [12.0] and len(srv.requests) == 1


@pytest.mark.parametrize("status", [401, 404])
def test_an_auth_or_missing_model_answer_is_not_retried(
    srv: ScriptedLLMServer, status: int
) -> None:
    clock = ManualClock()
    provider = _provider(srv, clock)
    srv.set_responder(
        lambda _b: Reply(status=status, error={"message": "no such thing", "type": "x"})
    )
    with pytest.raises(UpstreamError, match="no such thing") as info:
        asyncio.run(provider.complete(_req()))
    assert info.value.status == status and not info.value.is_retryable()
    assert len(srv.requests) == 1 and clock.waits == []


def test_n_choices_and_parameters_are_sent_and_read_back(srv: ScriptedLLMServer) -> None:
    provider = create_provider("openai", base_url=srv.base_url, model="m")
    body = {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "one"},
                "finish_reason": "stop",
            },
            {
                "index": 1,
                "message": {"role": "assistant", "content": "two"},
                "finish_reason": "length",
            },
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4},
    }
    srv.enqueue(Reply(raw_body=json.dumps(body).encode()))
    result = asyncio.run(provider.complete(_req(extra={"n": 2, "stop": "\n", "logprobs": True})))
    assert [(c.index, c.content, c.finish_reason) for c in result.choices] == [
        (0, "one", "stop"),
        (1, "two", "length"),
    ]
    assert result.content == "one" and result.raw == body
    sent = srv.requests[-1]["json"]
    assert sent["n"] == 2 and sent["stop"] == ["\n"] and sent["logprobs"] is True


def test_a_gateway_pool_is_a_sender_for_the_provider(srv: ScriptedLLMServer) -> None:
    from llmops.gateway.config import PoolConfig
    from llmops.gateway.upstream import Pool

    config = PoolConfig.model_validate(
        {
            "replicas": [{"base_url": srv.base_url, "name": "r0"}],
            "retries": {"attempts": 2, "backoff": 0.01, "max_backoff": 0.01},
            "health": {"enabled": False},
        }
    )
    srv.enqueue(Reply(status=502), Reply(content="via the pool"))

    async def main() -> tuple[str, str]:
        pool = Pool("up", config)
        await pool.start()
        try:
            provider = OpenAICompatProvider(OpenAIOptions(model="m"), sender=pool)
            whole = await provider.complete(_req())
            streamed = "".join([d.content async for d in provider.stream(_req("a b"))])
            return whole.content, streamed
        finally:
            await pool.close()

    assert asyncio.run(main()) == ("via the pool", "echo: a b")
    assert len(srv.requests) == 3
