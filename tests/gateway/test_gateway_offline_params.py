"""The offline extractive model behind a real gateway honours ``max_tokens``, ``stop`` and ``n``,
as the openai SDK sees them (plain and streamed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gateway_helpers import running_gateway
from openai import OpenAI

MSG = [{"role": "user", "content": "What colour is the zorb?"}]
# No retrieval on this route: the model abstains, with this sentence.
ABSTAIN = "I don't know based on the provided documents."


@pytest.fixture(scope="module")
def client() -> Iterator[OpenAI]:
    config = {
        "upstreams": {"offline": {"kind": "extractive"}},
        "routes": {"offline": {"upstream": "offline"}},
    }
    with running_gateway(config) as gw:
        yield OpenAI(base_url=gw.base_url, api_key="x", max_retries=0, timeout=120)


def test_unconstrained_answer(client: OpenAI) -> None:
    out = client.chat.completions.create(model="offline", messages=MSG)  # type: ignore[arg-type]
    assert [c.message.content for c in out.choices] == [ABSTAIN]
    assert out.choices[0].finish_reason == "stop"


def test_max_tokens_n_and_stop(client: OpenAI) -> None:
    # "I don't" is 4 word pieces of the tokenizer (i, don, ', t): 3 tokens only fit "I"
    cut = client.chat.completions.create(
        model="offline",
        messages=MSG,  # type: ignore[arg-type]
        max_tokens=3,
        n=2,
    )
    assert [(c.index, c.message.content, c.finish_reason) for c in cut.choices] == [
        (0, "I", "length"),
        (1, "I", "length"),
    ]
    assert cut.usage is not None and cut.usage.completion_tokens == 2
    stopped = client.chat.completions.create(
        model="offline",
        messages=MSG,  # type: ignore[arg-type]
        stop=["based"],
    )
    assert stopped.choices[0].message.content == "I don't know "
    assert stopped.choices[0].finish_reason == "stop"


def test_streamed_n_and_stop(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="offline",
        messages=MSG,  # type: ignore[arg-type]
        stop="the provided",
        n=3,
        stream=True,
        stream_options={"include_usage": True},
    )
    texts: dict[int, str] = {}
    finishes: dict[int, list[str]] = {}
    usage = None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
            if choice.finish_reason:
                finishes.setdefault(choice.index, []).append(choice.finish_reason)
    assert texts == dict.fromkeys(range(3), "I don't know based on ")
    assert finishes == {i: ["stop"] for i in range(3)}
    assert usage is not None and usage.completion_tokens == 3 * 7
