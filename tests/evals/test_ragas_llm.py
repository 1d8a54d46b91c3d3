"""ragas' LLM on the model seam: ragas' own metric, every call with a JSON schema, one generation.

The scripted server answers by the schema name ragas' pydantic model gives the request, so the
test checks what reaches the wire (response_format, max_tokens, no n) and that ragas' own
Faithfulness metric computes its score from those structured replies.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from llmops.evals.metrics.ragas_llm import RagasReplyError, structured_ragas_llm
from llmops.evals.openai_http import ChatEndpoint
from llmops.testing import Reply, ScriptedLLMServer

STATEMENTS = ["The global statement makes names global.", "It was added in Python 4."]


def _faithfulness_replies(body: dict[str, Any]) -> Reply:
    name = body["response_format"]["json_schema"]["name"]
    if name == "StatementGeneratorOutput":
        return Reply(content=json.dumps({"statements": STATEMENTS}))
    assert name == "NLIStatementOutput", name
    verdicts = [
        {"statement": s, "reason": "stated" if i == 0 else "not in the context", "verdict": 1 - i}
        for i, s in enumerate(STATEMENTS)
    ]
    return Reply(content=json.dumps({"statements": verdicts}))


def test_ragas_faithfulness_scores_from_structured_replies(llm: ScriptedLLMServer) -> None:
    from ragas.dataset_schema import SingleTurnSample
    from ragas.metrics import Faithfulness

    llm.set_responder(_faithfulness_replies)

    async def score() -> float:
        endpoint = ChatEndpoint(llm.base_url, name="judge")
        try:
            adapter = structured_ragas_llm(endpoint, "test-model", max_tokens=200)
            metric = Faithfulness(llm=adapter)
            sample = SingleTurnSample(
                user_input="What does the global statement do?",
                response="It makes names global. It was added in Python 4.",
                retrieved_contexts=["The global statement makes the listed names globals."],
            )
            return float(await metric.single_turn_ascore(sample))
        finally:
            await endpoint.aclose()

    assert asyncio.run(score()) == pytest.approx(0.5)  # one of two statements supported
    bodies = [r["json"] for r in llm.requests]
    assert [b["response_format"]["json_schema"]["name"] for b in bodies] == [
        "StatementGeneratorOutput",
        "NLIStatementOutput",
    ]
    for body in bodies:
        assert body["response_format"]["type"] == "json_schema"
        assert "statements" in body["response_format"]["json_schema"]["schema"]["properties"]
        assert body["max_tokens"] == 200 and body["temperature"] == 0
        assert "n" not in body


def test_a_reply_that_does_not_fit_the_model_is_an_error(llm: ScriptedLLMServer) -> None:
    from ragas.metrics._faithfulness import StatementGeneratorOutput

    llm.enqueue(Reply(content='{"statements": ["cut off'))

    async def ask() -> Any:
        endpoint = ChatEndpoint(llm.base_url, name="judge")
        try:
            adapter = structured_ragas_llm(endpoint, "test-model")
            return await adapter.agenerate("Say it.", StatementGeneratorOutput)
        finally:
            await endpoint.aclose()

    with pytest.raises(RagasReplyError, match="not a valid StatementGeneratorOutput"):
        asyncio.run(ask())


def test_an_over_long_prompt_is_refused_before_it_is_sent(llm: ScriptedLLMServer) -> None:
    from ragas.metrics._faithfulness import StatementGeneratorOutput

    async def ask() -> Any:
        endpoint = ChatEndpoint(llm.base_url, name="judge")
        try:
            adapter = structured_ragas_llm(endpoint, "test-model", max_prompt_chars=10)
            return await adapter.agenerate("x" * 11, StatementGeneratorOutput)
        finally:
            await endpoint.aclose()

    with pytest.raises(RagasReplyError, match="11 characters, over the cap of 10"):
        asyncio.run(ask())
    assert llm.requests == []
