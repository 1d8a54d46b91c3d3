"""Observability: the trace store (SQLite and PostgreSQL, batched, crash-safe up to the last
flush, queryable), Prometheus metrics, health endpoints and the OpenAPI document."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gateway_helpers import http_pool, running_gateway

from llmops.gateway import GatewayServer
from llmops.testing import Reply, ScriptedLLMServer, wait_until
from llmops.traces import TraceRecord, TraceStore, TraceWriter


@pytest.fixture(scope="module")
def gateway(upstream: ScriptedLLMServer) -> Iterator[GatewayServer]:
    config = {
        "upstreams": {"up": http_pool(upstream.base_url)},
        "routes": {"chat": {"upstream": "up"}},
    }
    with running_gateway(config) as gw:
        yield gw


def test_every_request_is_traced_with_what_served_it(
    gateway: GatewayServer, fresh_upstream: ScriptedLLMServer
) -> None:
    fresh_upstream.enqueue(
        Reply(content="traced answer", usage={"prompt_tokens": 7, "completion_tokens": 3})
    )
    r = httpx.post(
        gateway.base_url + "/chat/completions",
        json={"model": "chat", "user": "u-1", "messages": [{"role": "user", "content": "q"}]},
    )
    rid = r.headers["x-request-id"]
    with httpx.stream(
        "POST",
        gateway.base_url + "/chat/completions",
        json={"model": "chat", "stream": True, "messages": [{"role": "user", "content": "s t"}]},
    ) as s:
        s.read()
        sid = s.headers["x-request-id"]
    httpx.post(gateway.base_url + "/chat/completions", json={"model": "missing", "messages": []})
    assert gateway.runtime.writer.flush()
    store = gateway.runtime.store
    assert store is not None
    row = store.query(request_id=rid)[0]
    assert row["route"] == "chat" and row["upstream"] == "up" and row["replica"] == "r0"
    assert row["answer"] == "traced answer" and row["user"] == "u-1" and row["status"] == 200
    assert (row["prompt_tokens"], row["completion_tokens"]) == (7, 3)
    assert row["latency_ms"] > 0 and row["upstream_ms"] > 0 and row["key_id"] == "anonymous"
    streamed = store.query(request_id=sid)[0]
    assert streamed["stream"] is True and streamed["answer"] == "echo: s t"
    assert 0 < streamed["first_token_ms"] <= streamed["latency_ms"]
    failed = [t for t in store.query(limit=10) if t["status"] == 400]
    assert failed and failed[0]["error_code"] == "invalid_type"


def test_metrics_endpoint(gateway: GatewayServer, fresh_upstream: ScriptedLLMServer) -> None:
    for _ in range(3):
        httpx.post(
            gateway.base_url + "/chat/completions",
            json={"model": "chat", "messages": [{"role": "user", "content": "m"}]},
        )
    gateway.runtime.writer.flush()
    text = httpx.get(gateway.url + "/metrics").text
    assert 'llmops_gateway_requests_total{endpoint="chat",route="chat",status="200"}' in text
    assert "llmops_gateway_request_seconds_bucket" in text
    assert 'llmops_gateway_tokens_total{kind="completion",route="chat"}' in text
    assert 'llmops_gateway_breaker_state{replica="r0",upstream="up"} 0.0' in text
    assert "llmops_gateway_guard_blocks_total" in text or "llmops_gateway_guard_blocks" in text


def test_health_and_openapi(gateway: GatewayServer) -> None:
    assert httpx.get(gateway.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(gateway.url + "/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    doc = httpx.get(gateway.url + "/openapi.json").json()
    for path in (
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/models",
        "/v1/embeddings",
        "/admin/reload",
        "/metrics",
        "/readyz",
    ):
        assert path in doc["paths"], path
    body = doc["paths"]["/v1/chat/completions"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("ChatCompletionRequest")
    assert "ChatCompletionRequest" in doc["components"]["schemas"]


def test_writes_are_batched_off_the_request_path(tmp_path: Path) -> None:
    store = TraceStore(f"sqlite:///{tmp_path / 't.db'}")
    writer = TraceWriter(store, flush_interval=60, batch_size=1000)
    for i in range(2500):
        writer.submit(
            TraceRecord(f"r{i}", route="x", raw_body=b'{"choices":[{"message":{"content":"a"}}]}')
        )
    # Nothing is written per request: rows land in whole batches (a full one wakes the writer)
    # and the rest waits for the interval (60 s here) or flush().
    wait_until(lambda: writer.written == 2000, what="the writer writing two full batches")
    assert store.count() == 2000 and len(writer._pending) + len(writer._inbox) == 500
    assert writer.flush()
    assert store.count() == 2500 and writer.written == 2500
    assert store.query(limit=1)[0]["answer"] == "a"
    writer.close()


def test_query_filters(tmp_path: Path) -> None:
    store = TraceStore(f"sqlite:///{tmp_path / 't.db'}")
    now = time.time()
    store.write(
        [
            TraceRecord("old", ts=now - 3600, route="a", arm="x"),
            TraceRecord("new-a", ts=now, route="a", arm="y", chunk_ids=["c1"], chunk_scores=[0.5]),
            TraceRecord("new-b", ts=now, route="b"),
        ]
    )
    assert [t["request_id"] for t in store.query(since=now - 60, route="a")] == ["new-a"]
    assert store.query(request_id="new-a")[0]["chunk_ids"] == ["c1"]
    assert [t["request_id"] for t in store.query(arm="x")] == ["old"]
    assert len(store.query(limit=2)) == 2


def test_traces_survive_a_crash_up_to_the_last_flush(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    script = textwrap.dedent(f"""
        import os
        from llmops.traces import TraceRecord, TraceStore, TraceWriter
        writer = TraceWriter(TraceStore("sqlite:///{db}"), flush_interval=60)
        for i in range(100):
            writer.submit(TraceRecord(f"flushed-{{i}}", route="r"))
        assert writer.flush()
        for i in range(50):
            writer.submit(TraceRecord(f"lost-{{i}}", route="r"))
        os._exit(9)  # a crash: no close(), no atexit
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 9, proc.stderr
    rows = TraceStore(f"sqlite:///{db}").query(limit=None)
    ids = {r["request_id"] for r in rows}
    assert {f"flushed-{i}" for i in range(100)} <= ids
    assert len(ids) <= 150


@pytest.mark.postgres
def test_postgres_trace_store(postgres_url: str, upstream: ScriptedLLMServer) -> None:
    upstream.reset()
    config = {
        "traces": {"url": postgres_url, "flush_interval": 0.1},
        "upstreams": {"up": http_pool(upstream.base_url)},
        "routes": {"chat": {"upstream": "up"}},
    }
    with running_gateway(config) as gw:
        for i in range(5):
            httpx.post(
                gw.base_url + "/chat/completions",
                json={"model": "chat", "messages": [{"role": "user", "content": f"pg{i}"}]},
            )
        assert gw.runtime.writer.flush()
        assert gw.runtime.store is not None and gw.runtime.store.engine.dialect.name == "postgresql"
    rows = TraceStore(postgres_url).query(route="chat", limit=None)
    assert {r["answer"] for r in rows} >= {f"echo: pg{i}" for i in range(5)}


def test_repeated_client_request_ids_are_all_recorded(gateway: GatewayServer) -> None:
    for _ in range(2):
        r = httpx.post(
            gateway.base_url + "/chat/completions",
            headers={"x-request-id": "same-id-twice"},
            json={"model": "chat", "messages": [{"role": "user", "content": "again"}]},
        )
        assert r.status_code == 200
    assert gateway.runtime.writer.flush()
    assert len(gateway.runtime.store.query(request_id="same-id-twice")) == 2  # type: ignore[union-attr]


def test_a_failing_database_does_not_wedge_the_writer(tmp_path: Path) -> None:
    store = TraceStore(f"sqlite:///{tmp_path / 't.db'}")
    writer = TraceWriter(store, flush_interval=0.02)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE llmops_traces")
    writer.submit(TraceRecord("lost"))
    assert writer.flush(timeout=10)  # retried, then dropped with an error in the log
    assert writer.errors == writer.max_retries + 1
    writer.close()


def test_a_full_backlog_drops_its_oldest_and_flush_still_returns(tmp_path: Path) -> None:
    store = TraceStore(f"sqlite:///{tmp_path / 't.db'}")
    writer = TraceWriter(store, flush_interval=0.02)
    writer.max_backlog = 3
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE llmops_traces")
    for i in range(5):
        writer.submit(TraceRecord(f"r{i}"))
    # 2 trimmed from the backlog, 3 dropped after the retries: all 5 accounted for.
    assert writer.flush(timeout=10)
    assert writer.dropped == 5
    writer.close()


def test_answers_leave_whole_through_the_head_holding_transport(gateway: GatewayServer) -> None:
    # Answers with and without a body, and streams, arrive whole over one kept-alive connection.
    chat = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=gateway.base_url.removesuffix("/v1")) as client:
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
            assert client.head("/healthz").status_code in (200, 405)
            r = client.post("/v1/chat/completions", json={"model": "nope", "messages": []})
            assert r.status_code in (400, 404) and r.json()["error"]["message"]
            assert client.post("/v1/chat/completions", json=chat).json()["choices"]
            with client.stream("POST", "/v1/chat/completions", json={**chat, "stream": True}) as s:
                assert s.status_code == 200 and b"[DONE]" in b"".join(s.iter_bytes())
