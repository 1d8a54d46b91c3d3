"""The OpenAI API surface through the gateway to the real vLLM server on the real SmolLM2.

Streaming, tools, usage, stop, n, seed, logprobs and json_schema, each with the official
``openai`` SDK against the gateway's passthrough route (no prompt, no guards), which forwards to
the session's shared vLLM server. What is checked is what vLLM + SmolLM2 actually do with each
parameter, seen through the gateway; answers are a few tokens long.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from gateway_helpers import running_gateway
from openai import OpenAI
from vllm_helpers import streamed

from llmops.gateway import GatewayServer
from llmops.testing.vllm import SMOLLM2_SERVED_NAME as MODEL
from llmops.vllm.launcher import VllmServer

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

ROUTE = "smol"
ASK = [{"role": "user", "content": "Name three colours."}]


@pytest.fixture(scope="module")
def gateway(smollm2: VllmServer) -> Iterator[GatewayServer]:
    config = {
        "upstreams": {
            "vllm": {
                "kind": "openai",
                "model": MODEL,
                "replicas": [{"base_url": smollm2.base_url, "name": "cpu0"}],
                "timeouts": {"read": 120},
            }
        },
        "routes": {ROUTE: {"upstream": "vllm"}},
    }
    with running_gateway(config) as server:
        yield server


@pytest.fixture(scope="module")
def sdk(gateway: GatewayServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway.base_url, api_key="x", max_retries=0, timeout=120) as client:
        yield client


def test_usage_and_lineage_headers(sdk: OpenAI, gateway: GatewayServer) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model=ROUTE, messages=ASK, max_tokens=8, temperature=0
    )
    answer = raw.parse()
    assert raw.headers["x-llmops-upstream"] == "vllm/cpu0"
    assert answer.model == MODEL
    usage = answer.usage
    assert usage is not None and 0 < usage.completion_tokens <= 8
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    gateway.runtime.writer.flush()
    assert gateway.runtime.store is not None
    (trace,) = gateway.runtime.store.query(request_id=raw.headers["x-request-id"])
    assert trace["completion_tokens"] == usage.completion_tokens


def test_streaming_reassembles_to_the_whole_answer(sdk: OpenAI) -> None:
    whole = sdk.chat.completions.create(model=ROUTE, messages=ASK, max_tokens=10, temperature=0)
    chunks = streamed(sdk, model=ROUTE, messages=ASK, max_tokens=10)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]


def test_stop_sequence_ends_the_answer_before_it(sdk: OpenAI) -> None:
    free = sdk.chat.completions.create(model=ROUTE, messages=ASK, max_tokens=24, temperature=0)
    text = free.choices[0].message.content or ""
    words = text.split()
    assert len(words) >= 3, text
    stop = words[2]  # a word the model does write, third in its answer
    cut = sdk.chat.completions.create(
        model=ROUTE, messages=ASK, max_tokens=24, temperature=0, stop=[stop]
    )
    assert cut.choices[0].finish_reason == "stop"
    assert stop not in (cut.choices[0].message.content or "")
    assert text.startswith(cut.choices[0].message.content or "")


def test_n_returns_that_many_choices(sdk: OpenAI) -> None:
    r = sdk.chat.completions.create(
        model=ROUTE, messages=ASK, max_tokens=6, temperature=1.0, n=3, seed=7
    )
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert r.usage is not None and r.usage.completion_tokens <= 18


def test_seed_makes_sampling_repeatable(sdk: OpenAI) -> None:
    def sample(seed: int) -> str:
        r = sdk.chat.completions.create(
            model=ROUTE, messages=ASK, max_tokens=12, temperature=1.2, seed=seed
        )
        return r.choices[0].message.content or ""

    first = sample(11)
    assert sample(11) == first
    others = {sample(s) for s in (12, 13, 14)}
    assert others != {first}  # different seeds do not all give the same text


def test_logprobs_and_top_logprobs(sdk: OpenAI) -> None:
    r = sdk.chat.completions.create(
        model=ROUTE, messages=ASK, max_tokens=4, temperature=0, logprobs=True, top_logprobs=3
    )
    content = r.choices[0].logprobs.content  # type: ignore[union-attr]
    assert content is not None and len(content) == r.usage.completion_tokens  # type: ignore[union-attr]
    for token in content:
        assert token.logprob <= 0 and len(token.top_logprobs) == 3
        # greedy decoding picks the most likely token
        assert token.logprob == pytest.approx(max(t.logprob for t in token.top_logprobs))


def test_tool_call_with_a_named_function(sdk: OpenAI) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                # strict: vLLM pins the arguments to the schema (else only the envelope is)
                "strict": True,
                "description": "Current weather in a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string", "maxLength": 40}},
                    "required": ["city"],
                    "additionalProperties": False,
                },
            },
        }
    ]
    r = sdk.chat.completions.create(
        model=ROUTE,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=tools,  # type: ignore[arg-type]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=80,
        temperature=0,
    )
    assert r.choices[0].finish_reason in ("stop", "tool_calls")
    (call,) = r.choices[0].message.tool_calls or []
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}


def test_json_schema_response_format_always_parses(sdk: OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "answer": {"type": "string", "maxLength": 60},
            "confident": {"type": "boolean"},
        },
        "required": ["answer", "confident"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}
    for question in ("What is 2 + 2?", "Who wrote Hamlet?", "Is the sky green?"):
        r = sdk.chat.completions.create(
            model=ROUTE,
            messages=[{"role": "user", "content": question}],
            response_format=fmt,  # type: ignore[arg-type]
            max_tokens=60,
            temperature=0,
        )
        data = json.loads(r.choices[0].message.content or "")
        assert set(data) == {"answer", "confident"} and isinstance(data["confident"], bool)
