"""The API contract real clients rely on: OpenAI-shaped errors everywhere, deep bodies refused
with 400, content parts checked, models.retrieve, honest readiness and OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import fake_embedders
import httpx
import pytest
from gateway_helpers import http_pool, running_gateway

from llmops.gateway import GatewayServer
from llmops.testing import ScriptedLLMServer

MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def gw(upstream: ScriptedLLMServer) -> Iterator[GatewayServer]:
    config = {
        "upstreams": {"up": http_pool(upstream.base_url)},
        "routes": {
            "chat": {"upstream": "up"},
            # A route whose upstream model differs: the passthrough re-encodes the body.
            "renamed": {"upstream": "up", "model": "test-model"},
            "guarded": {"upstream": "up", "guards": {"input": [{"name": "pii", "on_fail": "fix"}]}},
        },
    }
    with running_gateway(config) as server:
        yield server


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def _deep_body(fields: dict[str, Any], depth: int) -> bytes:
    """Return ``fields`` plus ``"deep": [[[...]]]`` (``depth`` arrays) as JSON bytes."""
    head = json.dumps(fields)[:-1].encode()
    return head + b', "deep": ' + b"[" * depth + b"]" * depth + b"}"


def _error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("depth", [254, 600, 1023])
@pytest.mark.parametrize("model", ["chat", "renamed", "guarded"])
def test_deeply_nested_bodies_are_a_400_on_every_path(
    gw: GatewayServer, fresh_upstream: ScriptedLLMServer, depth: int, model: str
) -> None:
    raw = _deep_body({"model": model, "messages": MSG}, depth)
    r = httpx.post(gw.base_url + "/chat/completions", content=raw, timeout=30)
    assert _error(r, 400)["code"] == "invalid_json"
    assert fresh_upstream.requests == []


@pytest.mark.parametrize("path", ["/embeddings", "/models/iris/predict"])
def test_deeply_nested_bodies_are_a_400_on_fastapi_routes(gw: GatewayServer, path: str) -> None:
    raw = _deep_body({"model": "all-MiniLM-L6-v2", "input": "x"}, 1500)
    r = httpx.post(gw.base_url + path, content=raw, timeout=30)
    assert _error(r, 400)["code"] == "invalid_json"


def test_a_body_nested_within_the_limit_still_passes(
    gw: GatewayServer, fresh_upstream: ScriptedLLMServer
) -> None:
    body = {"model": "renamed", "messages": MSG, "metadata": _nested(100)}
    r = httpx.post(gw.base_url + "/chat/completions", json=body, timeout=30)
    assert r.status_code == 200, r.text
    assert fresh_upstream.requests[-1]["json"]["metadata"] == _nested(100)


def test_unknown_paths_and_wrong_methods_are_openai_errors(gw: GatewayServer) -> None:
    assert _error(httpx.get(gw.url + "/v1/nope"), 404)["code"] == "not_found"
    assert _error(httpx.get(gw.url + "/nope"), 404)["code"] == "not_found"
    wrong = httpx.get(gw.base_url + "/embeddings")
    assert _error(wrong, 405)["code"] == "method_not_allowed"
    assert wrong.headers["allow"] == "POST"
    fast = httpx.get(gw.base_url + "/chat/completions")
    assert _error(fast, 405)["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("raw", "code", "param"),
    [
        (b"{not json", "invalid_json", None),
        (b"\xff\xfe", "invalid_json", None),
        (b"", "invalid_json", None),
        (b"[1, 2]", "invalid_json", None),
        (b'{"model": "all-MiniLM-L6-v2", "input": [1, 2]}', "invalid_request", "input"),
    ],
)
def test_unparseable_embedding_bodies_are_openai_400s(
    gw: GatewayServer, raw: bytes, code: str, param: str | None
) -> None:
    r = httpx.post(
        gw.base_url + "/embeddings", content=raw, headers={"content-type": "application/json"}
    )
    error = _error(r, 400)
    assert error["type"] == "invalid_request_error" and error["code"] == code
    assert error["param"] == param or (param and error["param"].startswith(param))


def test_models_retrieve(gw: GatewayServer) -> None:
    from openai import NotFoundError, OpenAI

    client = OpenAI(base_url=gw.base_url, api_key="unused", max_retries=0)
    model = client.models.retrieve("chat")
    assert model.id == "chat" and model.object == "model"
    assert client.models.retrieve("all-MiniLM-L6-v2").id == "all-MiniLM-L6-v2"
    with pytest.raises(NotFoundError) as exc:
        client.models.retrieve("no-such-model")
    assert exc.value.code == "model_not_found"


def test_embedding_dimensions_other_than_the_models_are_refused(gw: GatewayServer) -> None:
    from openai import BadRequestError, OpenAI

    client = OpenAI(base_url=gw.base_url, api_key="unused", max_retries=0)
    same = client.embeddings.create(model="all-MiniLM-L6-v2", input="hello", dimensions=384)
    assert len(same.data[0].embedding) == 384
    with pytest.raises(BadRequestError) as exc:
        client.embeddings.create(model="all-MiniLM-L6-v2", input="hello", dimensions=256)
    assert exc.value.code == "unsupported_parameter"
    assert "384" in str(exc.value)


@pytest.mark.parametrize(
    "content",
    [
        [{"type": "text", "text": 5}],
        [{"type": "text"}],
        [{"type": "image_url", "image_url": "not-an-object"}],
        [{"type": "bogus", "text": "x"}],
        ["a bare string"],
        [{"text": "no type"}],
    ],
)
def test_badly_typed_content_parts_are_a_400(
    gw: GatewayServer, fresh_upstream: ScriptedLLMServer, content: list[Any]
) -> None:
    body = {"model": "chat", "messages": [{"role": "user", "content": content}]}
    r = httpx.post(gw.base_url + "/chat/completions", json=body)
    assert _error(r, 400)["param"].startswith("messages[0].content[0]")
    assert fresh_upstream.requests == []


def test_well_typed_content_parts_pass(
    gw: GatewayServer, fresh_upstream: ScriptedLLMServer
) -> None:
    parts = [
        {"type": "text", "text": "describe"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    r = httpx.post(
        gw.base_url + "/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": parts}]},
    )
    assert r.status_code == 200, r.text


def test_predict_with_an_impossible_model_name_is_a_404(gw: GatewayServer) -> None:
    r = httpx.post(gw.base_url + "/models/%1F/predict", json={"inputs": [{"x": 1}]})
    assert _error(r, 404)["code"] == "model_not_found"


def test_openapi_lists_the_real_statuses_and_shapes(gw: GatewayServer) -> None:
    doc = httpx.get(gw.url + "/openapi.json").json()
    paths = doc["paths"]
    chat = paths["/v1/chat/completions"]["post"]["responses"]
    assert {"200", "400", "401", "403", "404", "413", "429", "503"} <= set(chat)
    assert set(chat["200"]["content"]) == {"application/json", "text/event-stream"}
    embeddings = paths["/v1/embeddings"]["post"]["responses"]
    assert {"200", "400", "401", "404", "413", "429"} <= set(embeddings)
    assert "422" not in embeddings
    assert "/v1/models/{model_id}" in paths
    metrics = paths["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    schemas = doc["components"]["schemas"]
    request = schemas["ChatCompletionRequest"]["properties"]
    assert request["model"]["minLength"] == 1 and request["messages"]["minItems"] == 1
    assert schemas["CompletionRequest"]["properties"]["model"]["minLength"] == 1
    ready = paths["/readyz"]["get"]["responses"]
    assert {"200", "503"} <= set(ready)


def test_readyz_is_not_ready_while_the_only_pool_has_its_breaker_open(dead_url: str) -> None:
    pool = http_pool(dead_url, breaker={"failures": 1, "reset_after": 600})
    pool["retries"] = {"attempts": 1}
    config = {"upstreams": {"up": pool}, "routes": {"chat": {"upstream": "up"}}}
    with running_gateway(config) as gw:
        assert httpx.get(gw.url + "/readyz").status_code == 200
        r = httpx.post(gw.base_url + "/chat/completions", json={"model": "chat", "messages": MSG})
        assert r.status_code == 502
        ready = httpx.get(gw.url + "/readyz")
        assert ready.status_code == 503
        assert ready.json()["problems"] == [
            "route chat: breaker open on every healthy replica in pool up"
        ]


def test_readyz_waits_for_the_embedding_model(
    upstream: ScriptedLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMOPS_EMBEDDING_MODEL", "gated:readiness")
    fake_embedders.GATE.clear()
    config = {
        "upstreams": {"up": http_pool(upstream.base_url)},
        "routes": {"chat": {"upstream": "up"}},
    }
    with running_gateway(config, wait_models=False) as gw:
        try:
            assert httpx.get(gw.url + "/healthz").status_code == 200
            ready = httpx.get(gw.url + "/readyz")
            assert ready.status_code == 503
            assert ready.json()["problems"] == ["embedding model loading"]
        finally:
            fake_embedders.GATE.set()
        gw.wait_ready(30)
        assert httpx.get(gw.url + "/readyz").status_code == 200
        vectors = httpx.post(
            gw.base_url + "/embeddings", json={"model": "all-MiniLM-L6-v2", "input": "x"}
        )
        assert len(vectors.json()["data"][0]["embedding"]) == fake_embedders.DIM
