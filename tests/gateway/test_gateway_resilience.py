"""Resilience: retries with backoff (Retry-After honoured), breakers, fallback pools, timeouts,
health checks and least-outstanding balancing, against real loopback servers."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
from gateway_helpers import http_pool, running_gateway
from openai import OpenAI

from llmops.gateway import GatewayServer
from llmops.testing import ManualClock, Reply, ScriptedLLMServer, wait_until

MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def dead_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture(scope="module")
def slow_upstream() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer(latency=0.25) as srv:
        yield srv


def _client(base_url: str, timeout: float = 20) -> OpenAI:
    return OpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=timeout)


def test_5xx_is_retried_then_succeeds(fresh_upstream: ScriptedLLMServer) -> None:
    fresh_upstream.enqueue(Reply(status=500), Reply(status=503), Reply(content="third time lucky"))
    with running_gateway(
        {
            "upstreams": {"up": http_pool(fresh_upstream.base_url)},
            "routes": {"chat": {"upstream": "up"}},
        }
    ) as gw:
        out = _client(gw.base_url).chat.completions.create(model="chat", messages=MSG)
    assert out.choices[0].message.content == "third time lucky"
    assert len(fresh_upstream.requests) == 3


def test_429_retry_after_is_honoured(fresh_upstream: ScriptedLLMServer) -> None:
    fresh_upstream.enqueue(Reply(status=429, retry_after=0.4), Reply(content="after waiting"))
    with running_gateway(
        {
            "upstreams": {"up": http_pool(fresh_upstream.base_url)},
            "routes": {"chat": {"upstream": "up"}},
        }
    ) as gw:
        start = time.perf_counter()
        out = _client(gw.base_url).chat.completions.create(model="chat", messages=MSG)
        elapsed = time.perf_counter() - start
    assert out.choices[0].message.content == "after waiting"
    assert elapsed >= 0.38  # the backoff (≤ 0.05 s) was replaced by Retry-After


def test_persistent_429_reaches_the_client_as_429_with_retry_after(
    fresh_upstream: ScriptedLLMServer,
) -> None:
    fresh_upstream.set_responder(lambda _body: Reply(status=429, retry_after=0.01))
    with running_gateway(
        {
            "upstreams": {"up": http_pool(fresh_upstream.base_url)},
            "routes": {"chat": {"upstream": "up"}},
        }
    ) as gw:
        r = httpx.post(gw.base_url + "/chat/completions", json={"model": "chat", "messages": MSG})
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"
    assert r.json()["error"]["code"] == "upstream_rate_limited"
    assert len(fresh_upstream.requests) == 3


def test_persistent_5xx_is_a_502_and_a_stream_gets_a_status_not_a_broken_stream(
    fresh_upstream: ScriptedLLMServer,
) -> None:
    fresh_upstream.set_responder(lambda _body: Reply(status=500))
    with running_gateway(
        {
            "upstreams": {"up": http_pool(fresh_upstream.base_url)},
            "routes": {"chat": {"upstream": "up"}},
        }
    ) as gw:
        client = _client(gw.base_url)
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(model="chat", messages=MSG)
        assert info.value.status_code == 502
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="chat", messages=MSG, stream=True)


def test_dead_replica_is_skipped_and_its_breaker_opens(
    fresh_upstream: ScriptedLLMServer, dead_url: str
) -> None:
    pool = http_pool(dead_url, fresh_upstream.base_url, breaker={"failures": 2, "reset_after": 60})
    with running_gateway({"upstreams": {"up": pool}, "routes": {"chat": {"upstream": "up"}}}) as gw:
        client = _client(gw.base_url)
        for i in range(10):
            out = client.chat.completions.create(
                model="chat", messages=[{"role": "user", "content": f"q{i}"}]
            )
            assert out.choices[0].message.content == f"echo: q{i}"
        dead = gw.runtime.pools["up"].replicas[0]
        assert dead.breaker.state == "open"
        metrics = httpx.get(gw.url + "/metrics").text
    assert (
        'llmops_gateway_upstream_errors_total{kind="connect",replica="r0",upstream="up"} 2.0'
        in metrics
    )
    assert 'llmops_gateway_breaker_state{replica="r0",upstream="up"} 2.0' in metrics
    assert len(fresh_upstream.requests) == 10


def test_half_open_breaker_probes_and_closes_again(fresh_upstream: ScriptedLLMServer) -> None:
    fresh_upstream.enqueue(Reply(status=500), Reply(status=500))
    pool = http_pool(
        fresh_upstream.base_url,
        retries={"attempts": 1},
        breaker={"failures": 2, "reset_after": 0.3},
    )
    with running_gateway({"upstreams": {"up": pool}, "routes": {"chat": {"upstream": "up"}}}) as gw:
        clock = ManualClock()
        gw.runtime.pools["up"].clock = clock
        url = gw.base_url + "/chat/completions"
        body = {"model": "chat", "messages": MSG}
        assert httpx.post(url, json=body).status_code == 502
        assert httpx.post(url, json=body).status_code == 502
        # Open: refused without calling the upstream.
        r = httpx.post(url, json=body)
        assert r.status_code == 503 and r.json()["error"]["code"] == "upstream_unavailable"
        assert len(fresh_upstream.requests) == 2
        clock.advance(0.29)
        assert httpx.post(url, json=body).status_code == 503  # still open before reset_after
        clock.advance(0.02)
        assert httpx.post(url, json=body).status_code == 200  # the probe succeeds
        assert gw.runtime.pools["up"].replicas[0].breaker.state == "closed"


def test_fallback_pool_serves_when_the_primary_fails(
    fresh_upstream: ScriptedLLMServer, dead_url: str
) -> None:
    config = {
        "upstreams": {
            "primary": http_pool(dead_url, fallback="backup"),
            "backup": http_pool(fresh_upstream.base_url, model="backup-model"),
            "offline": {"kind": "extractive"},
        },
        "routes": {
            "chat": {"upstream": "primary"},
            "managed": {"upstream": "primary", "prompt": None},
        },
    }
    with running_gateway(config) as gw:
        raw = _client(gw.base_url).chat.completions.with_raw_response.create(
            model="chat", messages=MSG
        )
    assert raw.headers["x-llmops-upstream"] == "backup/r0"
    assert raw.parse().choices[0].message.content == "echo: hi"
    assert fresh_upstream.requests[-1]["json"]["model"] == "backup-model"


def test_read_timeout_is_a_504(fresh_upstream: ScriptedLLMServer) -> None:
    fresh_upstream.enqueue(Reply(delay=1.5))
    pool = http_pool(fresh_upstream.base_url, retries={"attempts": 1}, timeouts={"read": 0.3})
    with running_gateway({"upstreams": {"up": pool}, "routes": {"chat": {"upstream": "up"}}}) as gw:
        start = time.perf_counter()
        r = httpx.post(gw.base_url + "/chat/completions", json={"model": "chat", "messages": MSG})
        elapsed = time.perf_counter() - start
    assert r.status_code == 504 and r.json()["error"]["code"] == "upstream_timeout"
    assert elapsed < 1.2


def test_health_checks_drain_an_unreachable_replica_and_readyz_reports_it(
    fresh_upstream: ScriptedLLMServer, dead_url: str
) -> None:
    health = {"enabled": True, "interval": 0.1, "timeout": 0.5}
    config = {
        "upstreams": {
            "mixed": http_pool(dead_url, fresh_upstream.base_url, health=health),
            "down": http_pool(dead_url, health=health),
        },
        "routes": {"chat": {"upstream": "mixed"}, "broken": {"upstream": "down"}},
    }
    with running_gateway(config) as gw:
        pool = gw.runtime.pools["mixed"]
        wait_until(lambda: not pool.replicas[0].healthy, timeout=5, what="the health check")
        assert pool.replicas[1].healthy
        assert "ConnectionRefusedError" in (pool.replicas[0].health_error or "")
        ready = httpx.get(gw.url + "/readyz")
        assert ready.status_code == 503
        assert ready.json()["problems"] == ["route broken: no healthy replica in pool down"]
        assert httpx.get(gw.url + "/healthz").status_code == 200
        fresh_upstream.reset()
        for _ in range(5):
            httpx.post(gw.base_url + "/chat/completions", json={"model": "chat", "messages": MSG})
        # Drained replicas get no traffic at all, not even a first failed attempt.
        assert gw.runtime.metrics.upstream_errors.labels("mixed", "r0", "connect")._value.get() == 0
        posts = [r for r in fresh_upstream.requests if r["method"] == "POST"]
        assert len(posts) == 5


def test_least_outstanding_prefers_the_faster_replica(
    fresh_upstream: ScriptedLLMServer, slow_upstream: ScriptedLLMServer
) -> None:
    slow_upstream.reset()
    pool = http_pool(slow_upstream.base_url, fresh_upstream.base_url)
    with running_gateway({"upstreams": {"up": pool}, "routes": {"chat": {"upstream": "up"}}}) as gw:
        client = _client(gw.base_url)

        def ask(i: int) -> str:
            return (
                client.chat.completions.create(
                    model="chat", messages=[{"role": "user", "content": f"{i}"}]
                )
                .choices[0]
                .message.content
                or ""
            )

        with ThreadPoolExecutor(4) as pool_:
            answers = list(pool_.map(ask, range(40)))
    assert len(answers) == 40
    fast, slow = len(fresh_upstream.requests), len(slow_upstream.requests)
    assert fast + slow == 40
    assert fast > 3 * slow, (fast, slow)


def test_fallback_to_the_offline_model_when_vllm_is_down(dead_url: str) -> None:
    config = {
        "upstreams": {
            "vllm": http_pool(dead_url, fallback="offline"),
            "offline": {"kind": "extractive"},
        },
        "routes": {"chat": {"upstream": "vllm"}},
    }
    with running_gateway(config) as gw:
        # The first answer loads the embedding model: on a busy machine that takes > 20 s.
        raw = _client(gw.base_url, timeout=120).chat.completions.with_raw_response.create(
            model="chat", messages=MSG
        )
        stream = _client(gw.base_url, timeout=120).chat.completions.create(
            model="chat", messages=MSG, stream=True
        )
        streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert raw.headers["x-llmops-upstream"] == "offline"
    assert "don't know" in (raw.parse().choices[0].message.content or "")
    assert "don't know" in streamed


def test_a_launched_vllm_server_joins_its_pool_when_announced(
    fresh_upstream: ScriptedLLMServer, tmp_path: Path
) -> None:
    from llmops.config import load_settings
    from llmops.vllm.upstreams import UpstreamRecord, register_upstream, unregister_upstream

    state = load_settings(tmp_path).state_path
    pool = {
        "kind": "openai",
        "discover": "qwen",
        "retries": {"attempts": 1},
        "health": {"enabled": True, "interval": 0.1},
    }
    with running_gateway(
        {"upstreams": {"vllm": pool}, "routes": {"chat": {"upstream": "vllm"}}}, root=tmp_path
    ) as gw:
        url = gw.base_url + "/chat/completions"
        body = {"model": "chat", "messages": MSG}
        assert httpx.post(url, json=body).status_code == 503  # nothing announced yet
        register_upstream(
            state,
            UpstreamRecord(
                name="qwen",
                base_url=fresh_upstream.base_url,
                model="qwen-0.5b",
                health_url=fresh_upstream.url + "/health",
                started_at="2026-11-26T08:00:00+00:00",
            ),
        )
        wait_until(lambda: httpx.post(url, json=body).status_code == 200, what="the route")
        assert fresh_upstream.requests[-1]["json"]["model"] == "qwen-0.5b"
        unregister_upstream(state, "qwen")
        wait_until(lambda: httpx.post(url, json=body).status_code == 503, what="the unregister")


# -- what the upstream says about itself reaches the client as the gateway's upstream trouble --


@pytest.fixture(scope="module")
def strict_gateway(upstream: ScriptedLLMServer) -> Iterator[GatewayServer]:
    """Passthrough and managed routes over one pool (Retry-After honoured up to 10 s)."""
    pool = http_pool(
        upstream.base_url,
        retries={"attempts": 3, "backoff": 0.01, "max_backoff": 0.05, "max_retry_after": 10},
    )
    config = {
        "upstreams": {"up": pool},
        "routes": {"chat": {"upstream": "up"}, "managed": {"upstream": "up", "guards": {}}},
    }
    with running_gateway(config) as gw:
        yield gw


ROUTES = [("chat", False), ("chat", True), ("managed", False), ("managed", True)]


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(("route", "stream"), ROUTES)
def test_a_retry_after_beyond_the_limit_fails_at_once_with_the_upstreams_value(
    fresh_upstream: ScriptedLLMServer,
    strict_gateway: GatewayServer,
    status: int,
    route: str,
    stream: bool,
) -> None:
    fresh_upstream.set_responder(lambda _body: Reply(status=status, retry_after=120))
    start = time.perf_counter()
    with pytest.raises(openai.APIStatusError) as info:
        _client(strict_gateway.base_url).chat.completions.create(
            model=route, messages=MSG, stream=stream
        )
    elapsed = time.perf_counter() - start
    assert info.value.status_code == status
    assert info.value.response.headers["retry-after"] == "120"
    # not slept for max_retry_after (10 s) first, and not asked again
    assert elapsed < 5.0
    assert len(fresh_upstream.requests) == 1


def test_a_retry_after_within_the_limit_is_still_waited_and_retried(
    fresh_upstream: ScriptedLLMServer, strict_gateway: GatewayServer
) -> None:
    fresh_upstream.enqueue(Reply(status=503, retry_after=0.3), Reply(content="back"))
    start = time.perf_counter()
    out = _client(strict_gateway.base_url).chat.completions.create(model="chat", messages=MSG)
    assert out.choices[0].message.content == "back"
    assert time.perf_counter() - start >= 0.28 and len(fresh_upstream.requests) == 2


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, "upstream_auth_failed"), (403, "upstream_auth_failed"), (404, "upstream_not_found")],
)
@pytest.mark.parametrize(("route", "stream"), ROUTES)
def test_an_upstream_401_or_404_is_a_gateway_side_502_naming_the_upstream(
    fresh_upstream: ScriptedLLMServer,
    strict_gateway: GatewayServer,
    status: int,
    code: str,
    route: str,
    stream: bool,
) -> None:
    upstream_error = {"message": "Incorrect API key or model", "type": "x", "code": "invalid"}
    fresh_upstream.set_responder(lambda _body: Reply(status=status, error=upstream_error))
    client = _client(strict_gateway.base_url)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model=route, messages=MSG, stream=stream)
    # not an AuthenticationError / NotFoundError: the client's own key and model are fine
    assert type(info.value) is openai.InternalServerError
    assert info.value.status_code == 502 and info.value.code == code
    message = str(info.value.message)
    assert "upstream up/r0" in message and "gateway" in message
    assert "Incorrect API key or model" in message
    assert len(fresh_upstream.requests) == 1  # not retried
    # the replica answered: its breaker stays closed
    assert strict_gateway.runtime.pools["up"].replicas[0].breaker.state == "closed"
