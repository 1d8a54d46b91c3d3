"""Release strategies: canary (weighted, sticky), A/B (assignment in the trace), shadow (off the
response path, both outputs recorded, candidate failures invisible to the client)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_helpers import http_pool, running_gateway

from llmops.gateway import GatewayServer
from llmops.testing import Reply, ScriptedLLMServer, wait_until

_HTTP = httpx.Client()  # keep-alive: hundreds of requests per test


@pytest.fixture(scope="module")
def candidate() -> Iterator[ScriptedLLMServer]:
    """A second upstream playing the candidate model."""
    with ScriptedLLMServer(default_content="candidate says hi") as srv:
        yield srv


def _ask(gw: GatewayServer, model: str, user: str | None = None, **headers: str) -> httpx.Response:
    body: dict[str, object] = {"model": model, "messages": [{"role": "user", "content": "hello"}]}
    if user is not None:
        body["user"] = user
    r = _HTTP.post(gw.base_url + "/chat/completions", json=body, headers=headers, timeout=20)
    assert r.status_code == 200, r.text
    return r


def _released(
    upstream: ScriptedLLMServer, route: str, release: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """A gateway config whose ``route`` (on the scripted upstream) runs ``release``."""
    return {
        "upstreams": {"up": http_pool(upstream.base_url)},
        "routes": {route: {"upstream": "up", "release": release, **extra}},
    }


def test_canary_splits_by_weight_and_sticks_per_user(fresh_upstream: ScriptedLLMServer) -> None:
    release = {
        "strategy": "canary",
        "sticky": "user",
        "arms": [
            {"name": "stable", "weight": 80, "model": "model-v1"},
            {"name": "canary", "weight": 20, "model": "model-v2"},
        ],
    }
    config = _released(fresh_upstream, "chat", release)
    with running_gateway(config) as gw:
        arms = Counter(
            _ask(gw, "chat", user=f"user-{i}").headers["x-llmops-arm"] for i in range(300)
        )
        sticky = {_ask(gw, "chat", user="alice").headers["x-llmops-arm"] for _ in range(15)}
        gw.runtime.writer.flush()
        traces = gw.runtime.store.query(route="chat", limit=None)  # type: ignore[union-attr]
    assert 0.13 <= arms["canary"] / 300 <= 0.27, arms
    assert len(sticky) == 1
    sent = Counter(r["json"]["model"] for r in fresh_upstream.requests)
    assert sent["model-v2"] == arms["canary"] + (15 if sticky == {"canary"} else 0)
    assert {t["strategy"] for t in traces} == {"canary"}
    assert Counter(t["arm"] for t in traces)["canary"] == sent["model-v2"]


def test_sticky_by_session_header(fresh_upstream: ScriptedLLMServer) -> None:
    release = {
        "strategy": "ab",
        "sticky": "header:x-session-id",
        "arms": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}],
    }
    config = _released(fresh_upstream, "chat", release)
    with running_gateway(config) as gw:
        per_session = {
            s: {_ask(gw, "chat", **{"x-session-id": s}).headers["x-llmops-arm"] for _ in range(5)}
            for s in ("s1", "s2", "s3", "s4", "s5", "s6")
        }
    assert all(len(arms) == 1 for arms in per_session.values())
    assert {next(iter(a)) for a in per_session.values()} == {"a", "b"}


def test_ab_between_prompt_versions_records_the_assignment(
    fresh_upstream: ScriptedLLMServer, repo_root: Path
) -> None:
    release = {
        "strategy": "ab",
        "arms": [
            {"name": "prod", "weight": 1, "prompt": "rag-answer@production"},
            {"name": "staging", "weight": 1, "prompt": "rag-answer@staging"},
        ],
    }
    config = _released(fresh_upstream, "qa", release, prompt="rag-answer@production")
    with running_gateway(config, root=repo_root) as gw:
        seen = {}
        for i in range(40):
            r = _ask(gw, "qa", user=f"u{i}")
            seen[r.headers["x-llmops-arm"]] = r.headers["x-llmops-prompt"]
        gw.runtime.writer.flush()
        traces = gw.runtime.store.query(route="qa", limit=None)  # type: ignore[union-attr]
    assert seen == {"prod": "rag-answer@1", "staging": "rag-answer@2"}
    by_arm = {t["arm"]: t for t in traces}
    assert by_arm["prod"]["prompt_version"] == "1" and by_arm["staging"]["prompt_version"] == "2"
    assert by_arm["prod"]["prompt_hash"] != by_arm["staging"]["prompt_hash"]
    # The upstream received the rendered prompt (system rules + the question), not the raw turn.
    sent = fresh_upstream.requests[-1]["json"]
    assert sent["messages"][0]["role"] == "system" and "hello" in sent["messages"][-1]["content"]
    assert sent["temperature"] == 0  # the prompt's params are defaults


def test_shadow_records_both_and_never_affects_the_client(
    fresh_upstream: ScriptedLLMServer, candidate: ScriptedLLMServer
) -> None:
    candidate.reset()
    release = {"strategy": "shadow", "shadow": {"upstream": "cand", "share": 1.0}}
    config = {
        "upstreams": {
            "up": http_pool(fresh_upstream.base_url),
            "cand": http_pool(candidate.base_url, retries={"attempts": 1}),
        },
        "routes": {"chat": {"upstream": "up", "release": release}},
    }
    with running_gateway(config) as gw:
        r = _ask(gw, "chat")
        assert r.json()["choices"][0]["message"]["content"] == "echo: hello"
        wait_until(lambda: candidate.requests, timeout=5, what="the shadow request")
        # A slow, then failing candidate: the client's answer does not wait for it.
        candidate.enqueue(Reply(delay=5.0, status=500))
        start = time.perf_counter()
        r2 = _ask(gw, "chat")
        assert time.perf_counter() - start < 4.0  # the candidate alone takes 5 s (margin for load)
        assert r2.json()["choices"][0]["message"]["content"] == "echo: hello"
        wait_until(lambda: not gw.runtime.shadow_tasks, timeout=15, what="the shadow tasks")
        gw.runtime.writer.flush()
        traces = gw.runtime.store.query(route="chat", limit=None)  # type: ignore[union-attr]
    primary_ids = {r.headers["x-request-id"], r2.headers["x-request-id"]}
    shadows = {t["shadow_of"]: t for t in traces if t["arm"] == "shadow"}
    assert set(shadows) == primary_ids
    ok = shadows[r.headers["x-request-id"]]
    assert ok["answer"] == "candidate says hi" and ok["status"] == 200 and ok["upstream"] == "cand"
    failed = shadows[r2.headers["x-request-id"]]
    assert failed["status"] == 502 and failed["error_code"] == "upstream_error"
    primaries = [t for t in traces if t["arm"] == "primary"]
    assert {t["answer"] for t in primaries} == {"echo: hello"}
    assert len(candidate.requests) == 2
