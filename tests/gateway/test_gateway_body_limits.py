"""Bodies are bounded and read after authentication on every route; embeddings never block the
event loop (token counting and encoding run on worker threads)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import fake_embedders
import httpx
import pytest
from gateway_helpers import http_pool, running_gateway

from llmops.gateway import GatewayServer
from llmops.gateway.auth import hash_key
from llmops.testing import ScriptedLLMServer

LIMIT = 4096
KEYS = [{"id": "app", "sha256": hash_key("sk-app"), "scopes": ["*"]}]


@pytest.fixture(scope="module")
def gw(upstream: ScriptedLLMServer) -> Iterator[GatewayServer]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GW_LIMIT_KEYS", json.dumps(KEYS))
        mp.setenv("LLMOPS_EMBEDDING_MODEL", "recording:limits")
        config = {
            "server": {"max_body_bytes": LIMIT},
            "auth": {"enabled": True, "keys_env": "GW_LIMIT_KEYS"},
            "upstreams": {"up": http_pool(upstream.base_url)},
            "routes": {"chat": {"upstream": "up"}},
        }
        with running_gateway(config) as server:
            yield server


AUTH = {"authorization": "Bearer sk-app"}


@pytest.mark.parametrize("chunked", [False, True])
def test_embeddings_honour_max_body_bytes(gw: GatewayServer, chunked: bool) -> None:
    body = json.dumps({"model": "all-MiniLM-L6-v2", "input": "word " * 2000}).encode()
    assert len(body) > LIMIT
    content: bytes | Iterator[bytes] = body
    if chunked:  # no Content-Length: the limit is counted as the body arrives
        content = iter([body[i : i + 1000] for i in range(0, len(body), 1000)])
    r = httpx.post(gw.base_url + "/embeddings", content=content, headers=AUTH)
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "request_too_large"


def test_embeddings_within_the_limit_work(gw: GatewayServer) -> None:
    r = httpx.post(
        gw.base_url + "/embeddings",
        json={"model": "all-MiniLM-L6-v2", "input": ["a b", "c d e"]},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["prompt_tokens"] == 5
    assert len(r.json()["data"][1]["embedding"]) == fake_embedders.DIM


@pytest.mark.parametrize(
    "path", ["/v1/embeddings", "/v1/chat/completions", "/v1/models/iris/predict", "/admin/reload"]
)
def test_the_key_is_checked_before_the_body_is_read(gw: GatewayServer, path: str) -> None:
    """Announce 50 MB, send only the headers: the 401 comes back without reading a byte."""
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {50_000_000}\r\n\r\n".encode()
        )
        head = sock.recv(65536).decode("latin-1")
    assert head.startswith("HTTP/1.1 401"), head[:200]
    assert '"invalid_api_key"' in head


def test_an_announced_body_over_the_limit_is_refused_before_it_is_sent(gw: GatewayServer) -> None:
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-app\r\n"
            b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
        )
        head = sock.recv(65536).decode("latin-1")
    assert head.startswith("HTTP/1.1 413"), head[:200]


def test_token_counting_and_encoding_run_off_the_event_loop(gw: GatewayServer) -> None:
    fake_embedders.CALLS.clear()
    r = httpx.post(
        gw.base_url + "/embeddings",
        json={"model": "all-MiniLM-L6-v2", "input": ["one", "two three"]},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    kinds = {kind for kind, _ in fake_embedders.CALLS}
    assert kinds == {"encode", "count_tokens"}
    # The event loop runs on the server thread ("llmops-gateway"); workers are "llmops-gw_N".
    assert all(name.startswith("llmops-gw_") for _, name in fake_embedders.CALLS), (
        fake_embedders.CALLS
    )
