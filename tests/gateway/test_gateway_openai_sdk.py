"""The official openai SDK (sync, async, streaming) against the gateway under a real uvicorn."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import numpy as np
import openai
import pytest
from gateway_helpers import http_pool, running_gateway
from openai import AsyncOpenAI, OpenAI

from llmops.gateway import GatewayServer
from llmops.testing import Reply, ScriptedLLMServer


@pytest.fixture(scope="module")
def gateway(upstream: ScriptedLLMServer) -> Iterator[GatewayServer]:
    config = {
        "upstreams": {
            "up": http_pool(upstream.base_url, model="test-model"),
            "offline": {"kind": "extractive"},
        },
        "routes": {
            "chat": {"upstream": "up"},
            "raw": {"upstream": "up", "model": None},
            "offline": {"upstream": "offline"},
        },
    }
    with running_gateway(config) as gw:
        yield gw


@pytest.fixture
def client(gateway: GatewayServer, fresh_upstream: ScriptedLLMServer) -> OpenAI:
    return OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)


def test_sync_chat_reaches_the_upstream_and_says_what_served_it(
    client: OpenAI, fresh_upstream: ScriptedLLMServer
) -> None:
    fresh_upstream.enqueue(Reply(content="Paris is the capital."))
    raw = client.chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "capital of France?"}], max_tokens=20
    )
    answer = raw.parse()
    assert answer.choices[0].message.content == "Paris is the capital."
    assert raw.headers["x-llmops-route"] == "chat"
    assert raw.headers["x-llmops-upstream"] == "up/r0"
    assert len(raw.headers["x-request-id"]) >= 16
    sent = fresh_upstream.requests[-1]["json"]
    # The public name is mapped to the pool's model; everything else is forwarded as sent.
    assert sent["model"] == "test-model"
    assert sent["max_tokens"] == 20
    assert sent["messages"] == [{"role": "user", "content": "capital of France?"}]


def test_request_id_from_the_client_is_kept_and_forwarded(
    gateway: GatewayServer, fresh_upstream: ScriptedLLMServer
) -> None:
    r = httpx.post(
        gateway.base_url + "/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
        headers={"x-request-id": "req-abc-123"},
    )
    assert r.status_code == 200
    assert r.headers["x-request-id"] == "req-abc-123"
    assert fresh_upstream.requests[-1]["headers"].get("x-request-id") == "req-abc-123"


def test_sync_streaming_ends_with_usage_when_asked(
    client: OpenAI, fresh_upstream: ScriptedLLMServer
) -> None:
    fresh_upstream.enqueue(Reply(content="one two three four"))
    stream = client.chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "count"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_raw_stream_ends_with_done(
    gateway: GatewayServer, fresh_upstream: ScriptedLLMServer
) -> None:
    with httpx.stream(
        "POST",
        gateway.base_url + "/chat/completions",
        json={"model": "chat", "stream": True, "messages": [{"role": "user", "content": "a b"}]},
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        body = r.read().decode()
    assert body.rstrip().endswith("data: [DONE]")


def test_async_client_plain_and_streaming(
    gateway: GatewayServer, fresh_upstream: ScriptedLLMServer
) -> None:
    async def main() -> tuple[str, str]:
        client = AsyncOpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
        async with client:
            first = await client.chat.completions.create(
                model="chat", messages=[{"role": "user", "content": "async hello"}]
            )
            parts = []
            stream = await client.chat.completions.create(
                model="chat", messages=[{"role": "user", "content": "async stream"}], stream=True
            )
            async for chunk in stream:
                if chunk.choices:
                    parts.append(chunk.choices[0].delta.content or "")
            many = await asyncio.gather(
                *[
                    client.chat.completions.create(
                        model="chat", messages=[{"role": "user", "content": f"n{i}"}]
                    )
                    for i in range(20)
                ]
            )
            assert sorted(m.choices[0].message.content or "" for m in many) == sorted(
                f"echo: n{i}" for i in range(20)
            )
            return first.choices[0].message.content or "", "".join(parts)

    plain, streamed = asyncio.run(main())
    assert plain == "echo: async hello"
    assert streamed == "echo: async stream"


def test_legacy_completions_pass_through(client: OpenAI, fresh_upstream: ScriptedLLMServer) -> None:
    fresh_upstream.enqueue(Reply(content="completed text"))
    out = client.completions.create(model="chat", prompt="Say something", max_tokens=5)
    assert out.choices[0].text == "completed text"
    assert fresh_upstream.requests[-1]["path"].endswith("/completions")


def test_models_lists_routes_and_the_embedding_model(client: OpenAI) -> None:
    ids = {m.id for m in client.models.list().data}
    assert {"chat", "raw", "offline", "all-MiniLM-L6-v2"} <= ids


def test_embeddings_use_the_local_model(client: OpenAI) -> None:
    out = client.embeddings.create(
        model="all-MiniLM-L6-v2", input=["a cat sits on the mat", "a kitten on a rug", "tax law"]
    )
    vecs = np.array([d.embedding for d in out.data])
    assert vecs.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-3)
    # Real semantics, not fake vectors: the two cat sentences are closer than cat vs tax.
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2] + 0.2
    assert out.usage.prompt_tokens > 0
    floats = client.embeddings.create(model="all-MiniLM-L6-v2", input="x", encoding_format="float")
    assert len(floats.data[0].embedding) == 384


def test_unknown_model_is_404_with_the_list(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    assert "chat" in str(info.value) and "offline" in str(info.value)
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="nope", input="x")


def test_offline_extractive_route_answers_through_the_sdk(client: OpenAI) -> None:
    out = client.chat.completions.create(
        model="offline", messages=[{"role": "user", "content": "what is the capital of France?"}]
    )
    # No retrieval on this route, so the extractive model has nothing to quote: it abstains.
    assert "don't know" in (out.choices[0].message.content or "")
    stream = client.chat.completions.create(
        model="offline", messages=[{"role": "user", "content": "anything"}], stream=True
    )
    assert "don't know" in "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_legacy_completions_on_a_provider_route(client: OpenAI) -> None:
    out = client.completions.create(model="offline", prompt="anything at all")
    assert out.object == "text_completion" and "don't know" in out.choices[0].text
    pieces = [
        c.choices[0].text
        for c in client.completions.create(model="offline", prompt="x", stream=True)
        if c.choices
    ]
    assert "don't know" in "".join(pieces)
