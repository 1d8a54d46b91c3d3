"""Bad input from clients and upstreams: each gets the OpenAI-style error a client expects, and
the server keeps serving."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest
from gateway_helpers import http_pool, running_gateway
from openai import OpenAI

from llmops.gateway import GatewayServer
from llmops.testing import Reply, ScriptedLLMServer, wait_until

MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def gateway(upstream: ScriptedLLMServer) -> Iterator[GatewayServer]:
    config = {
        "server": {"max_body_bytes": 1_000_000, "max_messages": 256},
        "upstreams": {
            "up": http_pool(upstream.base_url, retries={"attempts": 1}),
            "offline": {"kind": "extractive"},
        },
        "routes": {
            "chat": {"upstream": "up"},
            "managed": {"upstream": "up", "prompt": None, "guards": {}},
        },
    }
    with running_gateway(config) as gw:
        yield gw


def _post(
    gw: GatewayServer,
    content: bytes | str | None = None,
    *,
    json: Any = None,
    path: str = "/chat/completions",
) -> httpx.Response:
    if json is not None:
        content = orjson.dumps(json)
    return httpx.post(
        gw.base_url + path,
        content=content,
        headers={"content-type": "application/json"},
        timeout=30,
    )


def _still_serving(gw: GatewayServer) -> None:
    r = _post(gw, json={"model": "chat", "messages": MSG})
    assert r.status_code == 200, r.text


BAD_REQUESTS: list[tuple[str, bytes, int, str | None]] = [
    ("malformed JSON", b'{"model": "chat", "messages": [', 400, "invalid_json"),
    ("empty body", b"", 400, "invalid_json"),
    ("not an object", b"[1, 2, 3]", 400, "invalid_json"),
    (
        "invalid UTF-8",
        b'{"model": "chat", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
        400,
        "invalid_json",
    ),
    ("missing messages", orjson.dumps({"model": "chat"}), 400, "missing_required_parameter"),
    ("messages not a list", orjson.dumps({"model": "chat", "messages": "hi"}), 400, "invalid_type"),
    ("empty messages", orjson.dumps({"model": "chat", "messages": []}), 400, "invalid_type"),
    (
        "message not an object",
        orjson.dumps({"model": "chat", "messages": ["hi"]}),
        400,
        "invalid_type",
    ),
    (
        "bad role",
        orjson.dumps({"model": "chat", "messages": [{"role": "god", "content": "x"}]}),
        400,
        "invalid_value",
    ),
    (
        "content is a number",
        orjson.dumps({"model": "chat", "messages": [{"role": "user", "content": 5}]}),
        400,
        "invalid_type",
    ),
    ("model missing", orjson.dumps({"messages": MSG}), 400, "invalid_type"),
    ("model not a string", orjson.dumps({"model": 3, "messages": MSG}), 400, "invalid_type"),
    (
        "stream is a string",
        orjson.dumps({"model": "chat", "messages": MSG, "stream": "true"}),
        400,
        "invalid_type",
    ),
    (
        "negative max_tokens",
        orjson.dumps({"model": "chat", "messages": MSG, "max_tokens": -5}),
        400,
        "invalid_value",
    ),
    (
        "max_tokens a float",
        orjson.dumps({"model": "chat", "messages": MSG, "max_tokens": 1.5}),
        400,
        "invalid_type",
    ),
    (
        "temperature a string",
        orjson.dumps({"model": "chat", "messages": MSG, "temperature": "hot"}),
        400,
        "invalid_type",
    ),
    ("unknown model", orjson.dumps({"model": "nope", "messages": MSG}), 404, "model_not_found"),
    (
        "10,000 messages",
        orjson.dumps({"model": "chat", "messages": MSG * 10_000}),
        400,
        "too_many_messages",
    ),
    (
        "10 MB body",
        orjson.dumps(
            {"model": "chat", "messages": [{"role": "user", "content": "x" * 10_000_000}]}
        ),
        413,
        "request_too_large",
    ),
]


@pytest.mark.parametrize(
    ("case", "body", "status", "code"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS]
)
def test_bad_request_gets_openai_error(
    gateway: GatewayServer,
    upstream: ScriptedLLMServer,
    case: str,
    body: bytes,
    status: int,
    code: str | None,
) -> None:
    upstream.reset()
    r = _post(gateway, body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    assert error["message"]
    assert upstream.requests == []  # nothing reached the upstream
    _still_serving(gateway)


def test_completions_prompt_is_checked(gateway: GatewayServer) -> None:
    r = _post(gateway, json={"model": "chat", "prompt": 42}, path="/completions")
    assert r.status_code == 400 and r.json()["error"]["param"] == "prompt"


def test_wrong_method_is_405(gateway: GatewayServer) -> None:
    r = httpx.get(gateway.base_url + "/chat/completions")
    assert r.status_code == 405 and "error" in r.json()


def test_sdk_sees_bad_request_error(gateway: GatewayServer) -> None:
    client = OpenAI(base_url=gateway.base_url, api_key="x", max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="chat", messages=MSG, max_tokens=-1)
    assert info.value.param == "max_tokens"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_upstream_garbage_is_a_502(
    gateway: GatewayServer, upstream: ScriptedLLMServer, stream: bool
) -> None:
    upstream.reset()
    upstream.enqueue(Reply(raw_body=b"<html>502 Bad Gateway from a proxy</html>"))
    r = _post(gateway, json={"model": "chat", "messages": MSG, "stream": stream})
    assert r.status_code == 502
    assert r.json()["error"]["code"] == "upstream_invalid_response"
    _still_serving(gateway)


def test_upstream_closing_mid_stream_ends_with_an_error_event(
    gateway: GatewayServer, upstream: ScriptedLLMServer
) -> None:
    upstream.reset()
    upstream.enqueue(Reply(content="this answer will be cut in the middle", close_mid_stream=True))
    client = OpenAI(base_url=gateway.base_url, api_key="x", max_retries=0)
    stream = client.chat.completions.create(model="chat", messages=MSG, stream=True)
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    assert "stream broke off" in str(info.value)
    assert received, "the first half of the answer reached the client before the error"
    _still_serving(gateway)


def test_upstream_client_error_passes_through(
    gateway: GatewayServer, upstream: ScriptedLLMServer
) -> None:
    upstream.reset()
    upstream.enqueue(
        Reply(
            status=400,
            error={
                "message": "context too long",
                "type": "invalid_request_error",
                "param": None,
                "code": "context_length_exceeded",
            },
        )
    )
    r = _post(gateway, json={"model": "chat", "messages": MSG})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "context_length_exceeded"
    assert len(upstream.requests) == 1  # a 400 is not retried


def test_invalid_route_config_refuses_to_start_with_file_and_line(cli: Any, tmp_path: Any) -> None:
    serving = tmp_path / "serving"
    serving.mkdir()
    (serving / "gateway.yaml").write_text(
        "upstreams:\n  up:\n    kind: extractive\nroutes:\n  chat:\n    upstream: up\n    promtp: x@1\n"
    )
    result = cli("serve", "--check", cwd=tmp_path)
    assert result.exit_code == 2
    assert "unknown key 'routes.chat.promtp'" in result.stderr
    assert "gateway.yaml:7" in result.stderr
    # The server itself refuses too, before listening.
    result = cli("serve", "--port", "0", cwd=tmp_path)
    assert result.exit_code == 2 and "gateway.yaml:7" in result.stderr


def test_managed_route_handles_broken_upstreams(
    upstream: ScriptedLLMServer, repo_root: Any
) -> None:
    """A route that renders a prompt parses the upstream's answer: garbage and cut streams too."""
    config = {
        "upstreams": {"up": http_pool(upstream.base_url, retries={"attempts": 1})},
        "routes": {"qa": {"upstream": "up", "prompt": "rag-answer@production"}},
    }
    with running_gateway(config, root=repo_root) as gw:
        upstream.reset()
        upstream.enqueue(Reply(raw_body=b"\x00\x01 not json"))
        r = _post(gw, json={"model": "qa", "messages": MSG})
        assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_invalid_response"
        upstream.enqueue(Reply(content="cut short", close_mid_stream=True))  # a body cut short
        r = _post(gw, json={"model": "qa", "messages": MSG})
        assert r.status_code == 502 and "body broke off" in r.json()["error"]["message"]
        upstream.enqueue(Reply(content="one two three four five six", close_mid_stream=True))
        client = OpenAI(base_url=gw.base_url, api_key="x", max_retries=0)
        with pytest.raises(openai.APIError, match="stream broke"):
            for _ in client.chat.completions.create(model="qa", messages=MSG, stream=True):
                pass
        upstream.enqueue(Reply(content="fine"))
        ok = client.chat.completions.create(model="qa", messages=MSG)
        assert ok.choices[0].message.content == "fine"


def test_client_leaving_mid_stream_stops_the_upstream(
    gateway: GatewayServer, upstream: ScriptedLLMServer
) -> None:
    upstream.reset()
    words = " ".join(f"w{i}" for i in range(40))
    upstream.enqueue(Reply(content=words, chunk_delay=0.05))
    with httpx.stream(
        "POST",
        gateway.base_url + "/chat/completions",
        json={"model": "chat", "stream": True, "messages": MSG},
    ) as r:
        rid = r.headers["x-request-id"]
        for line in r.iter_lines():
            if line.startswith("data: {"):
                break  # leave after the first chunk

    def logged() -> list[dict[str, Any]]:
        gateway.runtime.writer.flush()
        return gateway.runtime.store.query(request_id=rid)  # type: ignore[union-attr,no-any-return]

    rows = wait_until(logged, timeout=5, what="the disconnect's trace")
    assert rows[0]["status"] == 499 and rows[0]["error_code"] == "client_disconnected"
    _still_serving(gateway)


def test_passthrough_body_cut_short_is_a_502(
    gateway: GatewayServer, upstream: ScriptedLLMServer
) -> None:
    upstream.reset()
    upstream.enqueue(Reply(content="cut short", close_mid_stream=True))
    r = _post(gateway, json={"model": "chat", "messages": MSG})
    assert r.status_code == 502
    assert "body broke off" in r.json()["error"]["message"]
    _still_serving(gateway)
