"""Security: hashed API keys (file and environment), scopes per route, the admin scope, per-key
rate limits on requests and tokens, body limits and CORS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from gateway_helpers import http_pool, running_gateway
from openai import OpenAI

from llmops.gateway import GatewayServer
from llmops.gateway.auth import hash_key
from llmops.testing import ManualClock, ScriptedLLMServer

MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def gateway(
    upstream: ScriptedLLMServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    root = tmp_path_factory.mktemp("project")
    (root / "llmops.yaml").write_text("project: sec\n")
    (root / "serving").mkdir()
    keys = {
        "keys": [
            {"id": "web", "sha256": hash_key("sk-web"), "scopes": ["chat"]},
            {"id": "ops", "sha256": hash_key("sk-ops"), "scopes": ["*", "admin"]},
            {
                "id": "tiny",
                "sha256": hash_key("sk-tiny"),
                "scopes": ["*"],
                "rate_limit": {"requests_per_minute": 30, "burst": 3},
            },
            {
                "id": "lister",
                "sha256": hash_key("sk-lister"),
                "scopes": ["*"],
                "rate_limit": {"requests_per_minute": 6, "burst": 2},
            },
            {
                "id": "tokens",
                "sha256": hash_key("sk-tokens"),
                "scopes": ["*"],
                "rate_limit": {"tokens_per_minute": 12},
            },
        ]
    }
    (root / "serving" / "keys.yaml").write_text(json.dumps(keys))
    config = {
        "auth": {"enabled": True, "keys_file": "serving/keys.yaml", "keys_env": "TEST_GW_KEYS"},
        "upstreams": {"up": http_pool(upstream.base_url)},
        "routes": {
            "chat": {"upstream": "up", "scopes": ["chat"]},
            "internal": {"upstream": "up", "scopes": ["internal"]},
        },
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(
            "TEST_GW_KEYS",
            json.dumps([{"id": "env", "sha256": hash_key("sk-env"), "scopes": ["internal"]}]),
        )
        with running_gateway(config, root=root) as gw:
            yield gw


def _post(gw: GatewayServer, key: str | None, model: str = "chat") -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.post(
        gw.base_url + "/chat/completions", json={"model": model, "messages": MSG}, headers=headers
    )


def test_keys_file_stores_hashes_only() -> None:
    assert hash_key("sk-web") != "sk-web" and len(hash_key("sk-web")) == 64


@pytest.mark.parametrize("key", [None, "sk-wrong", "Basic abc"])
def test_missing_or_wrong_key_is_401(gateway: GatewayServer, key: str | None) -> None:
    headers = {"authorization": key if key and " " in key else f"Bearer {key}"} if key else {}
    r = httpx.post(
        gateway.base_url + "/chat/completions",
        json={"model": "chat", "messages": MSG},
        headers=headers,
    )
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"
    assert httpx.get(gateway.base_url + "/models", headers=headers).status_code == 401


def test_sdk_with_a_valid_key(gateway: GatewayServer) -> None:
    client = OpenAI(base_url=gateway.base_url, api_key="sk-web", max_retries=0)
    assert (
        client.chat.completions.create(model="chat", messages=MSG).choices[0].message.content
        == "echo: hi"
    )
    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=gateway.base_url, api_key="nope", max_retries=0).models.list()


def test_scopes_per_route(gateway: GatewayServer) -> None:
    assert _post(gateway, "sk-web", "chat").status_code == 200
    denied = _post(gateway, "sk-web", "internal")
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "insufficient_scope"
    assert _post(gateway, "sk-env", "internal").status_code == 200  # key from the environment
    assert _post(gateway, "sk-ops", "internal").status_code == 200  # '*' = every route


def test_admin_endpoints_need_the_admin_scope(gateway: GatewayServer) -> None:
    url = gateway.url + "/admin/upstreams"
    assert httpx.get(url).status_code == 401
    forbidden = httpx.get(url, headers={"authorization": "Bearer sk-web"})
    assert (
        forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "insufficient_scope"
    )
    ok = httpx.get(url, headers={"authorization": "Bearer sk-ops"})
    assert ok.status_code == 200
    assert ok.json()["upstreams"][0]["replicas"][0]["name"] == "r0"


def test_admin_drain_and_undrain(gateway: GatewayServer) -> None:
    ops = {"authorization": "Bearer sk-ops"}
    r = httpx.post(gateway.url + "/admin/upstreams/up/r0/drain", headers=ops)
    assert r.status_code == 200 and r.json()["drained"] is True
    try:
        blocked = _post(gateway, "sk-web")
        assert blocked.status_code == 503
    finally:
        httpx.post(gateway.url + "/admin/upstreams/up/r0/undrain", headers=ops)
    assert _post(gateway, "sk-web").status_code == 200
    assert (
        httpx.post(gateway.url + "/admin/upstreams/up/nope/drain", headers=ops).status_code == 404
    )


def test_request_rate_limit_is_429_with_retry_after(gateway: GatewayServer) -> None:
    clock = ManualClock()
    gateway.runtime.limiter.clock = clock
    codes = [_post(gateway, "sk-tiny").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200]  # the burst
    assert codes[3] == 429
    limited = _post(gateway, "sk-tiny")
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(limited.headers["retry-after"]) <= 2  # one request per 2 s refill
    clock.advance(float(limited.headers["retry-after"]) + 0.05)
    assert _post(gateway, "sk-tiny").status_code == 200
    # Other keys are not affected.
    assert _post(gateway, "sk-web").status_code == 200


def test_models_embeddings_and_predict_share_the_key_rate_limit(gateway: GatewayServer) -> None:
    headers = {"authorization": "Bearer sk-lister"}
    models = [httpx.get(gateway.base_url + "/models", headers=headers) for _ in range(2)]
    assert [r.status_code for r in models] == [200, 200]  # the burst
    limited = [
        httpx.get(gateway.base_url + "/models", headers=headers),
        httpx.post(
            gateway.base_url + "/embeddings",
            json={"model": "all-MiniLM-L6-v2", "input": "hi"},
            headers=headers,
        ),
        httpx.post(gateway.url + "/v1/models/bc/predict", json={"inputs": []}, headers=headers),
    ]
    assert [r.status_code for r in limited] == [429, 429, 429]
    assert all(r.json()["error"]["code"] == "rate_limit_exceeded" for r in limited)
    assert int(limited[0].headers["retry-after"]) >= 1
    # another key is not affected
    assert (
        httpx.get(
            gateway.base_url + "/models", headers={"authorization": "Bearer sk-ops"}
        ).status_code
        == 200
    )


def test_token_rate_limit_charges_real_usage(gateway: GatewayServer) -> None:
    # The scripted upstream reports ~2 prompt + ~3 completion tokens; 12/minute allows ~2 calls.
    codes = []
    for _ in range(6):
        codes.append(_post(gateway, "sk-tokens").status_code)
        gateway.runtime.writer.flush()
    assert codes[0] == 200
    assert 429 in codes
    first_429 = codes.index(429)
    assert all(c == 429 for c in codes[first_429:])


def test_cors_is_off_by_default(gateway: GatewayServer) -> None:
    r = httpx.options(
        gateway.base_url + "/chat/completions",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in r.headers


def test_cors_when_configured(upstream: ScriptedLLMServer) -> None:
    config = {
        "server": {"cors_origins": ["https://app.example"]},
        "upstreams": {"up": http_pool(upstream.base_url)},
        "routes": {"chat": {"upstream": "up"}},
    }
    with running_gateway(config) as gw:
        pre = httpx.options(
            gw.base_url + "/chat/completions",
            headers={"origin": "https://app.example", "access-control-request-method": "POST"},
        )
        assert pre.headers["access-control-allow-origin"] == "https://app.example"
        other = httpx.options(
            gw.base_url + "/chat/completions",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
        assert other.headers.get("access-control-allow-origin") != "https://evil.example"


def test_auth_enabled_without_keys_refuses_to_start(tmp_path: Path) -> None:
    from llmops.config import load_settings
    from llmops.errors import ConfigError
    from llmops.gateway import GatewayRuntime
    from llmops.gateway.config import GatewayConfig

    config = GatewayConfig.model_validate({"auth": {"enabled": True, "keys_env": "NO_SUCH_VAR_X"}})
    with pytest.raises(ConfigError, match="no API keys"):
        GatewayRuntime(config, load_settings(tmp_path))


def test_admin_disabled_without_auth(upstream: ScriptedLLMServer) -> None:
    config = {
        "upstreams": {"up": http_pool(upstream.base_url)},
        "routes": {"chat": {"upstream": "up"}},
    }
    with running_gateway(config) as gw:
        r = httpx.post(gw.url + "/admin/reload")
    assert r.status_code == 403 and r.json()["error"]["code"] == "admin_disabled"
