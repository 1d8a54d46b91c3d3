"""The scripted server through the real openai SDK: sync, async and streaming."""

from __future__ import annotations

import asyncio

import openai
import pytest

from llmops.testing import Reply, ScriptedLLMServer

USER = [{"role": "user", "content": "What is the capital of France?"}]


def client(srv: ScriptedLLMServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)


def test_chat_completion_matches_openai_shape(srv: ScriptedLLMServer) -> None:
    srv.enqueue(Reply("Paris [doc-1]"))
    with client(srv) as c:
        r = c.chat.completions.create(model="gpt-test", messages=USER)
    assert r.object == "chat.completion"
    assert r.model == "gpt-test"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == "Paris [doc-1]"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (6, 2, 8)
    (req,) = srv.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["authorization"] == "Bearer sk-test"
    assert req["json"]["messages"] == USER


def test_default_reply_echoes_last_user_message(srv: ScriptedLLMServer) -> None:
    with client(srv) as c:
        r = c.chat.completions.create(model="m", messages=USER)
    assert r.choices[0].message.content == "echo: What is the capital of France?"


def test_queue_is_fifo_then_responder_then_echo(srv: ScriptedLLMServer) -> None:
    srv.enqueue(Reply("one"), Reply("two"))
    srv.set_responder(lambda body: Reply("from responder " + body["model"]))
    with client(srv) as c:
        got = [
            c.chat.completions.create(model="m", messages=USER).choices[0].message.content
            for _ in range(3)
        ]
        srv.set_responder(lambda body: None)
        last = c.chat.completions.create(model="m", messages=USER).choices[0].message.content
    assert got == ["one", "two", "from responder m"]
    assert last == "echo: What is the capital of France?"


def test_reset_forgets_queue_responder_and_requests(srv: ScriptedLLMServer) -> None:
    srv.enqueue(Reply("queued"))
    srv.set_responder(lambda body: Reply("responder"))
    with client(srv) as c:
        c.models.list()
        srv.reset()
        r = c.chat.completions.create(model="m", messages=USER)
    assert r.choices[0].message.content.startswith("echo: ")
    assert [q["path"] for q in srv.requests] == ["/v1/chat/completions"]


def test_reply_model_overrides_echoed_model(srv: ScriptedLLMServer) -> None:
    srv.enqueue(Reply("x", model="served-by-upstream"))
    with client(srv) as c:
        assert c.chat.completions.create(model="m", messages=USER).model == "served-by-upstream"


def test_streaming_yields_role_pieces_finish_and_usage(srv: ScriptedLLMServer) -> None:
    srv.enqueue(Reply("alpha beta gamma", usage={"prompt_tokens": 11, "completion_tokens": 3}))
    with client(srv) as c:
        chunks = list(
            c.chat.completions.create(
                model="m", messages=USER, stream=True, stream_options={"include_usage": True}
            )
        )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "alpha beta gamma"
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 11
    assert chunks[-1].usage.total_tokens == 14
    assert all(ch.usage is None for ch in chunks[:-1])


def test_streaming_without_include_usage_sends_no_usage_chunk(srv: ScriptedLLMServer) -> None:
    with client(srv) as c:
        chunks = list(c.chat.completions.create(model="m", messages=USER, stream=True))
    assert all(ch.choices for ch in chunks)
    assert all(ch.usage is None for ch in chunks)


def test_max_tokens_truncates_with_finish_reason_length(srv: ScriptedLLMServer) -> None:
    srv.enqueue(Reply("one two three four five"))
    with client(srv) as c:
        r = c.chat.completions.create(model="m", messages=USER, max_tokens=2)
    assert r.choices[0].message.content == "one two"
    assert r.choices[0].finish_reason == "length"


def test_legacy_completions_plain_and_streamed(srv: ScriptedLLMServer) -> None:
    srv.enqueue(Reply("the answer"), Reply("streamed answer here"))
    with client(srv) as c:
        r = c.completions.create(model="m", prompt="Say it")
        pieces = list(c.completions.create(model="m", prompt="Say it", stream=True))
    assert r.object == "text_completion"
    assert r.choices[0].text == "the answer"
    assert "".join(p.choices[0].text for p in pieces) == "streamed answer here"
    assert pieces[-1].choices[0].finish_reason == "stop"


def test_models_list(srv: ScriptedLLMServer) -> None:
    with client(srv) as c:
        assert [m.id for m in c.models.list().data] == ["test-model"]


def test_embeddings_are_deterministic_unit_vectors(srv: ScriptedLLMServer) -> None:
    with client(srv) as c:
        # The SDK asks for base64 by default; float is asked for explicitly.
        a = c.embeddings.create(model="emb", input=["hello", "world"])
        b = c.embeddings.create(model="emb", input="hello", encoding_format="float")
    assert len(a.data) == 2
    assert len(a.data[0].embedding) == 8
    assert a.data[0].embedding == pytest.approx(b.data[0].embedding, abs=1e-6)
    assert a.data[0].embedding != pytest.approx(a.data[1].embedding, abs=1e-3)
    assert sum(v * v for v in b.data[0].embedding) == pytest.approx(1.0, abs=1e-6)


def test_error_reply_raises_sdk_error_with_status_and_request_id(srv: ScriptedLLMServer) -> None:
    srv.enqueue(Reply(status=503))
    with client(srv) as c, pytest.raises(openai.InternalServerError) as info:
        c.chat.completions.create(model="m", messages=USER)
    assert info.value.status_code == 503
    assert info.value.request_id is not None and info.value.request_id.startswith("req-")
    assert info.value.body == {
        "message": "scripted error (HTTP 503)",
        "type": "server_error",
        "param": None,
        "code": None,
    }


def test_rate_limit_reply_carries_retry_after(srv: ScriptedLLMServer) -> None:
    srv.enqueue(Reply(status=429, retry_after=2))
    with client(srv) as c, pytest.raises(openai.RateLimitError) as info:
        c.chat.completions.create(model="m", messages=USER)
    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.response.headers["retry-after-ms"] == "2000"


def test_custom_error_object_is_sent_verbatim(srv: ScriptedLLMServer) -> None:
    error = {"message": "context too long", "type": "invalid_request_error", "code": "ctx"}
    srv.enqueue(Reply(status=400, error=error))
    with client(srv) as c, pytest.raises(openai.BadRequestError) as info:
        c.chat.completions.create(model="m", messages=USER)
    assert info.value.body == error
    assert info.value.code == "ctx"


def test_sdk_retries_after_retry_after_then_succeeds(srv: ScriptedLLMServer) -> None:
    srv.enqueue(Reply(status=429, retry_after=0.05), Reply("second time lucky"))
    with openai.OpenAI(base_url=srv.base_url, api_key="k", max_retries=1) as c:
        r = c.chat.completions.create(model="m", messages=USER)
    assert r.choices[0].message.content == "second time lucky"
    assert len(srv.requests) == 2


def test_async_client_plain_and_streamed(srv: ScriptedLLMServer) -> None:
    srv.enqueue(Reply("async one"), Reply("async two"))

    async def run() -> tuple[str | None, str]:
        async with openai.AsyncOpenAI(base_url=srv.base_url, api_key="k", max_retries=0) as c:
            r = await c.chat.completions.create(model="m", messages=USER)
            stream = await c.chat.completions.create(model="m", messages=USER, stream=True)
            text = "".join([ch.choices[0].delta.content or "" async for ch in stream])
            return r.choices[0].message.content, text

    assert asyncio.run(run()) == ("async one", "async two")


def test_concurrent_requests_overlap_their_latency() -> None:
    # 40 requests each waiting 0.2 s finish far sooner than 8 s only if served concurrently.
    with ScriptedLLMServer(latency=0.2) as srv:

        async def run() -> float:
            loop = asyncio.get_running_loop()
            async with openai.AsyncOpenAI(base_url=srv.base_url, api_key="k") as c:
                start = loop.time()
                await asyncio.gather(
                    *(c.chat.completions.create(model="m", messages=USER) for _ in range(40))
                )
                return loop.time() - start

        elapsed = asyncio.run(run())
    assert elapsed < 2.0
    assert len(srv.requests) == 40
