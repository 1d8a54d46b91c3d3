"""The scripted server at the HTTP level: errors, garbage, broken streams, timing, process mode."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest

from llmops.testing import Reply, ScriptedLLMServer

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def sse_events(text: str) -> list[str]:
    return [line[len("data: ") :] for line in text.split("\n\n") if line.startswith("data: ")]


def test_health_and_models(srv: ScriptedLLMServer) -> None:
    with httpx.Client(base_url=srv.url) as h:
        assert h.get("/health").json() == {"status": "ok"}
        assert h.get("/v1/models").json()["data"][0]["id"] == "test-model"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "param"),
    [
        ("POST", "/v1/chat/completions", b"{not json", 400, None),
        ("POST", "/v1/chat/completions", b"[1, 2]", 400, None),
        ("POST", "/v1/chat/completions", b'{"messages": []}', 400, "model"),
        ("POST", "/v1/chat/completions", b'{"model": "m"}', 400, "messages"),
        ("POST", "/v1/chat/completions", b'{"model": "m", "messages": "hi"}', 400, "messages"),
        ("POST", "/v1/completions", b'{"model": "m"}', 400, "prompt"),
        ("GET", "/v1/chat/completions", b"", 405, None),
        ("POST", "/v1/models", b"{}", 405, None),
        ("GET", "/v1/nope", b"", 404, None),
    ],
)
def test_bad_requests_get_openai_error_json(
    srv: ScriptedLLMServer, method: str, path: str, body: bytes, status: int, param: str | None
) -> None:
    with httpx.Client(base_url=srv.url) as h:
        r = h.request(method, path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == status
        assert r.headers["content-type"] == "application/json"
        error = r.json()["error"]
        assert error["message"] and error["type"] and error["param"] == param
        # The connection survives a bad request.
        assert h.post("/v1/chat/completions", json=CHAT).status_code == 200


def test_garbage_body_is_sent_verbatim(srv: ScriptedLLMServer) -> None:
    srv.enqueue(Reply(raw_body=b"\x00<html>not json", status=200))
    with httpx.Client(base_url=srv.url) as h:
        r = h.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 200
    assert r.content == b"\x00<html>not json"


def test_garbage_inside_a_stream(srv: ScriptedLLMServer) -> None:
    srv.enqueue(Reply(raw_body=b"data: {broken\n\n"))
    with httpx.Client(base_url=srv.url) as h:
        r = h.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.text == "data: {broken\n\n"


def test_close_mid_stream_breaks_the_chunked_body(srv: ScriptedLLMServer) -> None:
    srv.enqueue(Reply("one two three four five six", close_mid_stream=True))
    received: list[str] = []
    with httpx.Client(base_url=srv.url) as h:
        with pytest.raises(httpx.RemoteProtocolError):
            with h.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as r:
                for line in r.iter_lines():
                    received.append(line)
        # A fresh connection still works after the broken one.
        assert h.post("/v1/chat/completions", json=CHAT).status_code == 200
    events = [x[len("data: ") :] for x in received if x.startswith("data: ")]
    assert events, "some chunks arrive before the connection closes"
    assert "[DONE]" not in events


def test_close_mid_body_without_stream(srv: ScriptedLLMServer) -> None:
    srv.enqueue(Reply("whole answer", close_mid_stream=True))
    with httpx.Client(base_url=srv.url) as h, pytest.raises(httpx.RemoteProtocolError):
        h.post("/v1/chat/completions", json=CHAT)


def test_stream_ends_with_done_and_parses(srv: ScriptedLLMServer) -> None:
    srv.enqueue(Reply("a b"))
    with httpx.Client(base_url=srv.url) as h:
        r = h.post("/v1/chat/completions", json={**CHAT, "stream": True})
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_stream_flag_that_is_not_true_gets_plain_json(srv: ScriptedLLMServer) -> None:
    with httpx.Client(base_url=srv.url) as h:
        r = h.post("/v1/chat/completions", json={**CHAT, "stream": "yes"})
    assert r.headers["content-type"] == "application/json"


def test_stream_chunks_splits_into_that_many_pieces() -> None:
    with ScriptedLLMServer(stream_chunks=3, default_content="abcdefghi") as srv:
        with httpx.Client(base_url=srv.url) as h:
            r = h.post("/v1/chat/completions", json={**CHAT, "stream": True})
    chunks = [json.loads(e) for e in sse_events(r.text)[:-1]]
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]]
    assert pieces == ["abc", "def", "ghi"]


def test_delay_and_latency_add_up(srv: ScriptedLLMServer) -> None:
    srv.latency = 0.1
    srv.enqueue(Reply("slow", delay=0.2))
    with httpx.Client(base_url=srv.url) as h:
        start = time.perf_counter()
        h.post("/v1/chat/completions", json=CHAT)
        elapsed = time.perf_counter() - start
    assert elapsed >= 0.3


def test_chunk_delay_spaces_the_chunks(srv: ScriptedLLMServer) -> None:
    srv.enqueue(Reply("a b c d", chunk_delay=0.1))
    arrivals: list[float] = []
    with httpx.Client(base_url=srv.url) as h:
        with h.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    arrivals.append(time.perf_counter())
    # role, 4 pieces, finish, [DONE]: the server waits 0.1 s before each of the 5 chunks after
    # the first. The client sees those gaps less its own delay in reading the first chunk (CI saw
    # 0.4996 s), so allow that delay up to 50 ms; without the waits the span is about 0.2 ms.
    assert arrivals[-2] - arrivals[0] >= 0.45


def test_responder_failure_is_a_500_not_a_hang(srv: ScriptedLLMServer) -> None:
    def broken(body: dict[str, object]) -> Reply:
        raise RuntimeError("boom")

    srv.set_responder(broken)
    with httpx.Client(base_url=srv.url) as h:
        r = h.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 500
    assert "boom" in r.json()["error"]["message"]


def test_keep_alive_reuses_one_connection(srv: ScriptedLLMServer) -> None:
    with httpx.Client(base_url=srv.url) as h:
        for _ in range(20):
            assert h.post("/v1/chat/completions", json=CHAT).status_code == 200
    assert srv.connections_opened == 1
    assert len(srv.requests) == 20


def test_connection_close_is_honoured(srv: ScriptedLLMServer) -> None:
    with httpx.Client(base_url=srv.url, headers={"connection": "close"}) as h:
        r1 = h.post("/v1/chat/completions", json=CHAT)
        r2 = h.post("/v1/chat/completions", json=CHAT)
    assert r1.headers["connection"] == "close" and r2.status_code == 200
    assert srv.connections_opened == 2


def test_stop_closes_the_port() -> None:
    srv = ScriptedLLMServer().start()
    url = srv.url
    with httpx.Client(base_url=url) as h:
        assert h.get("/health").status_code == 200
    srv.stop()
    with httpx.Client(base_url=url) as h, pytest.raises(httpx.ConnectError):
        h.get("/health")


def test_process_mode_prints_ready_and_serves() -> None:
    cmd = [sys.executable, "-m", "llmops.testing.fake_llm", "--latency", "0.01"]
    cmd += ["--stream-chunks", "2", "--content", "hello big world", "--model", "bench"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:")
        base = line.split()[1]
        with httpx.Client(base_url=base) as h:
            assert h.get("/models").json()["data"][0]["id"] == "bench"
            r = h.post("/chat/completions", json=CHAT)
            assert r.json()["choices"][0]["message"]["content"] == "hello big world"
            s = h.post("/chat/completions", json={**CHAT, "stream": True})
            assert len(sse_events(s.text)) == 1 + 2 + 1 + 1  # role, 2 pieces, finish, DONE
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
