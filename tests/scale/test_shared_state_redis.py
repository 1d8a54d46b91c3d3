"""The Redis shared state on its own: buckets on an injected clock, what a replica does while
Redis is down, frozen or back (``when_unavailable: open`` and ``closed``), the config's
errors, revocations of the in-process default surviving a restart, and shared breakers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from scale_helpers import RedisServer, eventually, keys_env

from llmops.config import load_settings
from llmops.errors import ConfigError
from llmops.gateway import GatewayRuntime, GatewayServer
from llmops.gateway.auth import ApiKey
from llmops.gateway.breaker import CircuitBreaker
from llmops.gateway.config import (
    GatewayConfig,
    KeyRateLimit,
    SharedStateConfig,
    load_gateway_config,
)
from llmops.gateway.revocations import Revocations
from llmops.gateway.shared_redis import RedisState
from llmops.gateway.shared_state import REVOKED, SharedStateDownError

KEYS: dict[str, tuple[str, dict[str, Any]]] = {
    "admin": ("sk-admin-" + "a" * 20, {"scopes": ["admin", "*"]}),
    "limited": ("sk-limited-" + "l" * 20, {"rate_limit": {"requests_per_minute": 1, "burst": 3}}),
    "victim": ("sk-victim-" + "v" * 20, {}),
}


def bearer(key_id: str) -> dict[str, str]:
    return {"authorization": f"Bearer {KEYS[key_id][0]}"}


@contextmanager
def gateway(root: Path, shared: dict[str, Any]) -> Iterator[httpx.Client]:
    """A gateway (real uvicorn, in a thread) with the test keys and this shared_state."""
    (root / "keys.yaml").write_text('{"keys": ' + keys_env(KEYS) + "}", encoding="utf-8")
    config = {
        "server": {"embedding_models": [], "local_admin": False},
        "auth": {"enabled": True, "keys_file": "keys.yaml", "keys_env": None},
        "shared_state": shared,
        "traces": {"enabled": False},
    }
    (root / "gateway.yaml").write_text(json.dumps(config), encoding="utf-8")
    runtime = GatewayRuntime.from_file(root / "gateway.yaml", load_settings(root))
    server = GatewayServer(runtime)
    server.start(wait_models=False)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            yield client
    finally:
        server.stop()


def _models(client: httpx.Client, key_id: str) -> httpx.Response:
    return client.get("/v1/models", headers=bearer(key_id))


# -- the buckets, on an injected clock -----------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_buckets_refill_and_charge_on_the_injected_clock(
    redis_server: RedisServer, prefix: str
) -> None:
    clock = Clock()
    config = SharedStateConfig(backend="redis", url=redis_server.url, prefix=prefix)
    state = RedisState(config, Revocations(), clock)
    key = ApiKey("k", frozenset({"*"}), KeyRateLimit(), "ab" * 32)
    requests = KeyRateLimit(requests_per_minute=60, burst=2)
    tokens = KeyRateLimit(tokens_per_minute=60)

    async def scenario() -> list[float]:
        await state.start()
        try:
            seen = [await state.admit(key, requests) for _ in range(3)]
            clock.now += 0.5
            seen.append(await state.admit(key, requests))  # half a request refilled
            clock.now += 0.5
            seen.append(await state.admit(key, requests))  # one whole request
            seen.append(await state.admit(key, tokens))
            state.charge_tokens("k", tokens, 90)  # 30 tokens in debt, sent in the background
            await state.flush()
            seen.append(await state.admit(key, tokens))
            clock.now += 31
            seen.append(await state.admit(key, tokens))
            return seen
        finally:
            await state.close()

    seen = asyncio.run(scenario())
    assert seen[:2] == [0.0, 0.0]
    assert seen[2] == pytest.approx(1.0)
    assert seen[3] == pytest.approx(0.5)
    assert seen[4:6] == [0.0, 0.0]
    assert seen[6] == pytest.approx(30.0)
    assert seen[7] == 0.0


def test_revoked_digest_is_refused_by_the_admission_script(
    redis_server: RedisServer, prefix: str
) -> None:
    config = SharedStateConfig(backend="redis", url=redis_server.url, prefix=prefix)
    mirror = Revocations()
    state = RedisState(config, mirror)
    key = ApiKey("k", frozenset({"*"}), KeyRateLimit(), "cd" * 32)

    async def scenario() -> list[float]:
        await state.start()
        try:
            before = await state.admit(key, None)
            await state.revoke("cd" * 32)
            during = await state.admit(key, KeyRateLimit(requests_per_minute=5))
            await state.restore("cd" * 32)
            return [before, during, await state.admit(key, None)]
        finally:
            await state.close()

    assert asyncio.run(scenario()) == [0.0, REVOKED, 0.0]
    assert "cd" * 32 not in mirror


def test_unreachable_redis_raises_down_then_waits_before_trying_again(tmp_path: Path) -> None:
    from scale_helpers import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    config = SharedStateConfig(backend="redis", url=url, retry_after=60)
    state = RedisState(config, Revocations())
    key = ApiKey("k", frozenset({"*"}), KeyRateLimit(), None)

    async def scenario() -> list[str]:
        await state.start()
        try:
            messages = []
            for _ in range(2):
                with pytest.raises(SharedStateDownError) as err:
                    await state.admit(key, KeyRateLimit(requests_per_minute=5))
                messages.append(str(err.value))
            return messages
        finally:
            await state.close()

    first, second = asyncio.run(scenario())
    assert first.startswith("shared state unreachable: "), first
    assert second == "shared state unreachable (waiting to retry)"


# -- a replica while Redis is down, frozen, back ---------------------------------------------


def test_when_unavailable_open_falls_back_to_local_buckets_and_mirrored_revocations(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    shared = {"backend": "redis", "url": own_redis.url, "retry_after": 0.2, "timeout": 0.2}
    with gateway(tmp_path, shared) as client:
        assert _models(client, "limited").status_code == 200  # 1 of 3 from the shared bucket
        admin = bearer("admin")
        assert client.post("/admin/keys/victim/revoke", headers=admin).status_code == 200
        own_redis.stop()
        # Each replica alone: a full local bucket of 3, then 429 from this process.
        codes = [_models(client, "limited").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        # The revocation it mirrored before the outage still holds.
        assert _models(client, "victim").status_code == 401
        status = client.get("/admin/shared", headers=admin).json()
        assert status["reachable"] is False and status["when_unavailable"] == "open"
        # A revocation cannot be recorded while Redis is down: 503, not a local-only one.
        refused = client.post("/admin/keys/limited/revoke", headers=admin)
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "shared_state_unavailable"
        own_redis.start()  # back, empty (no persistence in the test server)
        assert eventually(lambda: _models(client, "limited").status_code == 200)
        assert client.get("/admin/shared", headers=admin).json()["reachable"] is True
        # The mirror resynced from the (empty) restarted Redis: nothing is revoked there now.
        assert eventually(lambda: _models(client, "victim").status_code == 200)


def _fail_closed(url: str, *, retry_after: float, timeout: float) -> dict[str, Any]:
    """Shared state on Redis at ``url`` that refuses requests while Redis is unreachable."""
    return {
        "backend": "redis",
        "url": url,
        "when_unavailable": "closed",
        "retry_after": retry_after,
        "timeout": timeout,
    }


def test_when_unavailable_closed_refuses_with_503_and_recovers(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    shared = _fail_closed(own_redis.url, retry_after=0.2, timeout=0.2)
    with gateway(tmp_path, shared) as client:
        assert _models(client, "victim").status_code == 200
        own_redis.stop()
        refused = _models(client, "victim")
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "shared_state_unavailable"
        assert refused.headers["retry-after"] == "1"
        assert client.get("/healthz").status_code == 200  # public paths need no shared state
        own_redis.start()
        assert eventually(lambda: _models(client, "victim").status_code == 200)


def test_a_frozen_redis_costs_at_most_the_timeout(own_redis: RedisServer, tmp_path: Path) -> None:
    # 1 s, not less: on a loaded machine (load 29 seen) an unfrozen Redis missed 0.2 s.
    shared = _fail_closed(own_redis.url, retry_after=30, timeout=1.0)
    with gateway(tmp_path, shared) as client:
        assert _models(client, "victim").status_code == 200
        own_redis.pause()
        try:
            start = time.perf_counter()
            first = _models(client, "victim")
            waited = time.perf_counter() - start
            start = time.perf_counter()
            second = _models(client, "victim")  # no second wait: Redis is left alone
            again = time.perf_counter() - start
        finally:
            own_redis.resume()
    assert first.status_code == second.status_code == 503
    assert waited < 1.0 + 3.0, waited  # the timeout, plus scheduling on a busy machine
    assert again < waited


# -- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("shared_state:\n  backend: redis\n", "needs a url"),
        ("shared_state:\n  backend: redis\n  url: http://x\n", "url must start with redis://"),
        ("shared_state:\n  backend: memcached\n", "shared_state.backend"),
        ("shared_state:\n  when_unavailabel: open\n", "when_unavailable"),
        ("shared_state:\n  timeout: 0\n", "shared_state.timeout"),
    ],
)
def test_bad_shared_state_config_names_file_line_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("server:\n  port: 8080\n" + text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_gateway_config(path)
    rendered = str(err.value)
    assert f"{path}:3" in rendered or f"{path}:4" in rendered, rendered
    assert expected in rendered, rendered


def test_reload_refuses_a_changed_shared_state(own_redis: RedisServer, tmp_path: Path) -> None:
    with gateway(tmp_path, {"backend": "memory"}) as client:
        doc = json.loads((tmp_path / "gateway.yaml").read_text())
        doc["shared_state"] = {"backend": "redis", "url": own_redis.url}
        (tmp_path / "gateway.yaml").write_text(json.dumps(doc))
        r = client.post("/admin/reload", headers=bearer("admin"))
        assert r.status_code == 400
        assert "shared_state changed" in r.json()["error"]["message"]
        assert client.get("/admin/shared", headers=bearer("admin")).json()["backend"] == "memory"


def test_default_config_is_the_in_process_memory_backend() -> None:
    config = GatewayConfig.model_validate({})
    assert config.shared_state.backend == "memory"
    assert config.shared_state.when_unavailable == "open"


# -- the in-process default -------------------------------------------------------------------


def test_memory_revocations_survive_a_restart(tmp_path: Path) -> None:
    with gateway(tmp_path, {"backend": "memory"}) as client:
        assert _models(client, "victim").status_code == 200
        r = client.post("/admin/keys/victim/revoke", headers=bearer("admin"))
        assert r.json() == {"id": "victim", "revoked": True, "shared": "memory"}
        assert _models(client, "victim").status_code == 401
    with gateway(tmp_path, {"backend": "memory"}) as client:
        assert _models(client, "victim").status_code == 401
        listed = client.get("/admin/keys", headers=bearer("admin")).json()["keys"]
        assert [k["id"] for k in listed if k["revoked"]] == ["victim"]
        assert client.post("/admin/keys/victim/restore", headers=bearer("admin")).is_success
        assert _models(client, "victim").status_code == 200


def test_revoking_needs_the_admin_scope(tmp_path: Path) -> None:
    with gateway(tmp_path, {"backend": "memory"}) as client:
        r = client.post("/admin/keys/victim/revoke", headers=bearer("victim"))
        assert r.status_code == 403
        assert _models(client, "victim").status_code == 200


# -- breakers ----------------------------------------------------------------------------------


def test_breaker_tells_listeners_only_when_it_opens() -> None:
    breaker = CircuitBreaker(failures=2, reset_after=10)
    heard: list[str] = []
    breaker.on_open.append(lambda b: heard.append(b.state))
    breaker.failure(now=0.0)
    assert heard == []
    breaker.failure(now=1.0)
    breaker.failure(now=2.0)  # already open: no second notice (the wait restarts)
    assert heard == ["open"]
    assert breaker.remaining(now=5.0) == pytest.approx(7.0)


def test_a_tripped_breaker_opens_for_the_given_time_then_probes() -> None:
    breaker = CircuitBreaker(failures=5, reset_after=30)
    heard: list[str] = []
    breaker.on_open.append(lambda b: heard.append(b.state))
    breaker.trip(4.0, now=100.0)
    assert heard == []  # a trip from a peer is not re-published
    assert not breaker.can_try(now=103.9)
    assert breaker.can_try(now=104.1)
    breaker.trip(1.0, now=104.1)  # a peer's new trip opens it again
    assert breaker.remaining(now=104.1) == pytest.approx(1.0)
    breaker.trip(0.5, now=104.1)  # shorter than what is left: ignored
    assert breaker.remaining(now=104.1) == pytest.approx(1.0)
