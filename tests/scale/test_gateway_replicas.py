"""Two real gateway processes sharing one real redis-server: together they allow the
configured rate (not twice it), a key revoked on one is refused by both, tokens charged on one
count on the other, and a breaker opening on one opens on the other. The control: two
replicas with the in-process default each allow the full rate."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scale_helpers import RedisServer, Replica, eventually, free_port, keys_env, replicas

from llmops.testing import ScriptedLLMServer

KEYS: dict[str, tuple[str, dict[str, Any]]] = {
    "admin": ("sk-admin-" + "a" * 20, {"scopes": ["admin", "*"]}),
    # One request a minute refills nothing within a test: exactly `burst` are admitted.
    "burst6": ("sk-burst-" + "b" * 20, {"rate_limit": {"requests_per_minute": 1, "burst": 6}}),
    "victim": ("sk-victim-" + "v" * 20, {}),
    "admin2": ("sk-admin2-" + "d" * 20, {"scopes": ["admin", "*"]}),
    "tokens": ("sk-tokens-" + "t" * 20, {"rate_limit": {"tokens_per_minute": 40}}),
}


def plain(key_id: str) -> str:
    return KEYS[key_id][0]


def _config(upstream: str, dead: str, shared: dict[str, Any]) -> dict[str, Any]:
    pool = {
        "kind": "openai",
        "retries": {"attempts": 1},
        "health": {"enabled": False},
    }
    return {
        "server": {"embedding_models": [], "local_admin": False},
        "auth": {"enabled": True, "keys_env": "LLMOPS_GATEWAY_KEYS"},
        "shared_state": shared,
        "traces": {"enabled": True, "flush_interval": 0.05},
        "upstreams": {
            "up": {**pool, "replicas": [{"base_url": upstream, "name": "up0"}]},
            "dead": {
                **pool,
                "replicas": [{"base_url": dead, "name": "dead0"}],
                "breaker": {"failures": 1, "reset_after": 120},
            },
        },
        "routes": {"chat": {"upstream": "up"}, "broken": {"upstream": "dead"}},
    }


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer(latency=0.0, record_requests=False) as srv:
        yield srv


@pytest.fixture(scope="module")
def pair(
    redis_server: RedisServer,
    upstream: ScriptedLLMServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[list[Replica]]:
    """Two ``llmops serve`` processes on one Redis (their own key prefix)."""
    dead = f"http://127.0.0.1:{free_port()}/v1"
    shared = {
        "backend": "redis",
        "url": redis_server.url,
        "prefix": f"pair-{secrets.token_hex(4)}:",
    }
    config = _config(upstream.base_url, dead, shared)
    folder = tmp_path_factory.mktemp("replicas")
    with replicas(folder, [config, config], {"LLMOPS_GATEWAY_KEYS": keys_env(KEYS)}) as both:
        yield both


def _chat(rep: Replica, key: str, text: str = "hello") -> int:
    body = {"model": "chat", "messages": [{"role": "user", "content": text}], "max_tokens": 8}
    return rep.post("/v1/chat/completions", key, body).status_code


def test_two_replicas_together_allow_the_configured_burst_not_twice(pair: list[Replica]) -> None:
    a, b = pair
    codes = []
    for i in range(16):
        rep = a if i % 2 == 0 else b
        if i % 4 < 2:
            codes.append(rep.get("/v1/models", plain("burst6")).status_code)
        else:
            codes.append(_chat(rep, plain("burst6")))
    assert codes.count(200) == 6, codes
    assert codes[:6] == [200] * 6 and set(codes[6:]) == {429}, codes
    refused = b.get("/v1/models", plain("burst6"))
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(refused.headers["retry-after"]) >= 1


def test_in_process_default_lets_each_replica_allow_the_full_burst(
    upstream: ScriptedLLMServer, tmp_path: Path
) -> None:
    """The control: the same two replicas without shared state admit twice the burst."""
    from llmops.config import load_settings
    from llmops.gateway import GatewayRuntime, GatewayServer
    from llmops.gateway.config import GatewayConfig

    dead = f"http://127.0.0.1:{free_port()}/v1"
    config = _config(upstream.base_url, dead, {"backend": "memory"})
    config["auth"] = {"enabled": True, "keys_env": None, "keys_file": "keys.yaml"}
    config["traces"] = {"enabled": False}
    (tmp_path / "keys.yaml").write_text(
        '{"keys": ' + keys_env({"burst6": KEYS["burst6"]}) + "}", encoding="utf-8"
    )
    servers = []
    for _ in range(2):
        runtime = GatewayRuntime(GatewayConfig.model_validate(config), load_settings(tmp_path))
        servers.append(GatewayServer(runtime))
    for server in servers:
        server.start(wait_models=False)
    try:
        import httpx

        codes = []
        for i in range(16):
            with httpx.Client(base_url=servers[i % 2].base_url, timeout=10) as client:
                headers = {"authorization": f"Bearer {plain('burst6')}"}
                codes.append(client.get("/models", headers=headers).status_code)
        assert codes.count(200) == 12, codes
    finally:
        for server in servers:
            server.stop()


def test_a_key_revoked_on_one_replica_is_refused_by_both_at_once(pair: list[Replica]) -> None:
    a, b = pair
    victim = plain("victim")
    assert a.get("/v1/models", victim).status_code == 200
    assert b.get("/v1/models", victim).status_code == 200
    revoked = a.post("/admin/keys/victim/revoke", plain("admin"))
    assert revoked.status_code == 200, revoked.text
    assert revoked.json() == {"id": "victim", "revoked": True, "shared": "redis"}
    # The very next request on the other replica is refused: it asks Redis, not a cache.
    on_b = b.get("/v1/models", victim)
    assert on_b.status_code == 401
    assert on_b.json()["error"]["message"] == "API key 'victim' has been revoked"
    assert _chat(a, victim) == 401 and _chat(b, victim) == 401
    listed = b.get("/admin/keys", plain("admin")).json()["keys"]
    assert {"id": "victim", "revoked": True, "scopes": ["*"]} in listed
    assert b.post("/admin/keys/victim/restore", plain("admin")).status_code == 200
    assert a.get("/v1/models", victim).status_code == 200
    assert b.get("/v1/models", victim).status_code == 200


def test_a_revoked_admin_key_is_refused_on_admin_paths_and_the_dashboard(
    pair: list[Replica],
) -> None:
    a, b = pair
    admin2 = plain("admin2")
    assert b.get("/admin/upstreams", admin2).status_code == 200
    assert a.post("/admin/keys/admin2/revoke", plain("admin")).status_code == 200
    try:
        assert b.get("/admin/upstreams", admin2).status_code == 401
        # The dashboard login authenticates from b's mirror of the revoked set (pub/sub).
        assert eventually(lambda: b.get("/admin/shared", plain("admin")).json()["revoked_keys"])
        status = b.get("/admin/shared", plain("admin")).json()
        assert status["backend"] == "redis" and status["reachable"] and status["mirroring"]
        login = b.client.post("/dashboard/login", data={"key": admin2}, follow_redirects=False)
        assert login.status_code == 401
    finally:
        assert a.post("/admin/keys/admin2/restore", plain("admin")).status_code == 200
    assert b.get("/admin/upstreams", admin2).status_code == 200
    assert eventually(lambda: not b.get("/admin/shared", plain("admin")).json()["revoked_keys"])
    login = b.client.post("/dashboard/login", data={"key": admin2}, follow_redirects=False)
    assert login.status_code == 303


def test_unknown_key_ids_are_404_naming_the_known_ones(pair: list[Replica]) -> None:
    r = pair[0].post("/admin/keys/nobody/revoke", plain("admin"))
    assert r.status_code == 404
    assert "no stored API key 'nobody'" in r.json()["error"]["message"]
    assert "burst6" in r.json()["error"]["message"]


def test_tokens_used_on_one_replica_count_on_the_other(pair: list[Replica]) -> None:
    a, b = pair
    key = plain("tokens")
    assert b.get("/v1/models", key).status_code == 200
    # A 50-word question and an 8-token answer: 58 tokens against 40 a minute.
    assert _chat(a, key, " ".join(["word"] * 50)) == 200
    assert eventually(lambda: b.get("/v1/models", key).status_code == 429)
    assert a.get("/v1/models", key).status_code == 429


def test_a_breaker_opening_on_one_replica_opens_on_the_other(pair: list[Replica]) -> None:
    a, b = pair
    admin = plain("admin")

    def breaker(rep: Replica) -> str:
        pools = rep.get("/admin/upstreams", admin).json()["upstreams"]
        dead = next(p for p in pools if p["name"] == "dead")
        return str(dead["replicas"][0]["breaker"])

    assert breaker(a) == breaker(b) == "closed"
    r = a.post(
        "/v1/chat/completions",
        admin,
        {"model": "broken", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status_code == 502
    assert breaker(a) == "open"
    # Replica b never called the dead upstream: it learns from a's breaker.
    assert eventually(lambda: breaker(b) == "open")
    refused = b.post(
        "/v1/chat/completions",
        admin,
        {"model": "broken", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert refused.status_code == 503
