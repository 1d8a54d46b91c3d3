"""vLLM's real OpenAI-compatible protocol, served by the CPU build on the real SmolLM2-135M.

The server is the session's shared one (tests/conftest.py ``smollm2``): the shipped profile on a
free port. Answers are short (a few tokens) so the whole file costs seconds, not minutes.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from vllm_helpers import streamed

from llmops.testing.vllm import SMOLLM2_SERVED_NAME as MODEL
from llmops.vllm.launcher import VllmServer
from llmops.vllm.upstreams import list_upstreams, register_upstream

pytestmark = pytest.mark.vllm

USER = [{"role": "user", "content": "What is the capital of France?"}]


def client(server: VllmServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=120)


def test_health_and_metrics(smollm2: VllmServer) -> None:
    with httpx.Client(base_url=smollm2.url) as h:
        assert h.get("/health").status_code == 200
        metrics = h.get("/metrics")
        assert metrics.status_code == 200 and "vllm:" in metrics.text


def test_models_lists_the_served_name(smollm2: VllmServer) -> None:
    with client(smollm2) as c:
        models = c.models.list().data
    assert [m.id for m in models] == [MODEL]
    assert models[0].model_extra is not None and models[0].model_extra["max_model_len"] == 8192


def test_the_real_model_answers_a_simple_question(smollm2: VllmServer) -> None:
    with client(smollm2) as c:
        r = c.chat.completions.create(model=MODEL, messages=USER, max_tokens=12, temperature=0)
    assert r.object == "chat.completion" and r.model == MODEL
    assert r.choices[0].message.role == "assistant"
    # SmolLM2-135M-Instruct knows this one; random weights would not.
    assert "Paris" in (r.choices[0].message.content or "")
    assert r.choices[0].finish_reason in ("length", "stop")
    assert r.usage is not None and 0 < r.usage.completion_tokens <= 12


def test_chat_stream_with_usage(smollm2: VllmServer) -> None:
    with client(smollm2) as c:
        chunks = streamed(c, model=MODEL, messages=USER, max_tokens=4)
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices]
    assert finishes[-1] in ("length", "stop")
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert 0 < chunks[-1].usage.completion_tokens <= 4


def test_raw_sse_ends_with_done(smollm2: VllmServer) -> None:
    body = {"model": MODEL, "messages": USER, "max_tokens": 2, "stream": True}
    with httpx.Client(base_url=smollm2.base_url, timeout=60) as h:
        r = h.post("/chat/completions", json=body)
    events = [e[len("data: ") :] for e in r.text.split("\n\n") if e.startswith("data: ")]
    assert r.headers["content-type"].startswith("text/event-stream")
    assert events[-1] == "[DONE]"
    assert all(json.loads(e)["object"] == "chat.completion.chunk" for e in events[:-1])


def test_completions_plain_and_streamed(smollm2: VllmServer) -> None:
    with client(smollm2) as c:
        r = c.completions.create(model=MODEL, prompt="Once upon a", max_tokens=3, temperature=0)
        pieces = list(c.completions.create(model=MODEL, prompt="Once", max_tokens=3, stream=True))
    assert r.object == "text_completion" and r.choices[0].text.strip()
    assert pieces and pieces[-1].choices[0].finish_reason in ("length", "stop")


def test_async_client(smollm2: VllmServer) -> None:
    async def run() -> str | None:
        async with openai.AsyncOpenAI(
            base_url=smollm2.base_url, api_key="unused", max_retries=0
        ) as c:
            r = await c.chat.completions.create(model=MODEL, messages=USER, max_tokens=2)
            return r.choices[0].finish_reason

    assert asyncio.run(run()) in ("length", "stop")


def test_unknown_model_is_a_404_error_json(smollm2: VllmServer) -> None:
    with client(smollm2) as c, pytest.raises(openai.NotFoundError) as info:
        c.chat.completions.create(model="no-such-model", messages=USER)
    assert info.value.status_code == 404
    assert "no-such-model" in str(info.value.body)


def test_too_many_tokens_is_a_400_error_json(smollm2: VllmServer) -> None:
    with client(smollm2) as c, pytest.raises(openai.BadRequestError) as info:
        c.chat.completions.create(model=MODEL, messages=USER, max_tokens=100_000)
    assert info.value.status_code == 400
    assert isinstance(info.value.body, dict) and info.value.body.get("message")


def test_announcement_points_at_the_live_server(smollm2: VllmServer, tmp_path: Path) -> None:
    register_upstream(tmp_path, smollm2.record())
    (record,) = list_upstreams(tmp_path)
    assert smollm2.process is not None
    assert record.name == MODEL and record.pid == smollm2.process.pid
    with httpx.Client() as h:
        assert h.get(record.health_url).status_code == 200
        models = h.get(record.base_url + "/models").json()
    assert models["data"][0]["id"] == record.model


# -- through llmops' own provider kind (what the eval runner and the judge use) ---------------


def provider_call(server: VllmServer, fn: Any) -> Any:
    from llmops.providers import create_provider

    async def run() -> Any:
        provider = create_provider("vllm", base_url=server.base_url, model=MODEL, max_retries=0)
        try:
            return await fn(provider)
        finally:
            await provider.aclose()

    return asyncio.run(run())


def test_provider_complete_and_stream(smollm2: VllmServer) -> None:
    from llmops.providers import ChatDelta, ChatRequest

    request = ChatRequest(model=MODEL, messages=USER, max_tokens=6, temperature=0)

    async def both(provider: Any) -> tuple[Any, list[ChatDelta]]:
        whole = await provider.complete(request)
        deltas = [d async for d in provider.stream(request.model_copy(update={"stream": True}))]
        return whole, deltas

    whole, deltas = provider_call(smollm2, both)
    assert whole.model == MODEL and whole.finish_reason in ("length", "stop")
    assert 0 < whole.usage.completion_tokens <= 6
    # temperature 0 on the same model: the streamed text equals the whole answer.
    assert "".join(d.content for d in deltas) == whole.content
    assert deltas[-1].finish_reason in ("length", "stop")


def test_provider_maps_vllm_errors_to_upstream_errors(smollm2: VllmServer) -> None:
    from llmops.errors import UpstreamError
    from llmops.providers import ChatRequest

    request = ChatRequest(model=MODEL, messages=USER, max_tokens=100_000)

    async def too_long(provider: Any) -> Any:
        return await provider.complete(request)

    with pytest.raises(UpstreamError) as info:
        provider_call(smollm2, too_long)
    assert info.value.status == 400
    assert not info.value.is_retryable()
