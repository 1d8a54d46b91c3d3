"""Eval model calls share the transport and the retry policy: retries do not multiply across
layers, a long Retry-After ends a call at once, and ragas' own requests retry in the transport."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evals_helpers import Project, gateway_reply, knowing_responder, ragas_judge_reply

from llmops.evals import load_suite, run_suite
from llmops.testing import Reply, ScriptedLLMServer


def _posts(llm: ScriptedLLMServer) -> list[dict[str, Any]]:
    return [r for r in llm.requests if r["method"] == "POST"]


def test_a_failing_target_is_asked_retries_plus_one_times_not_more(
    project: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    # The run's ModelCaller retries (suite retries: 2); the provider under it must not add its
    # own retries on top (3 x 3 = 9 requests per item without the nesting rule).
    llm.set_responder(lambda _b: Reply(status=503, retry_after=0.01))
    result = run_suite(load_suite(make_suite(limit=1, retries=2)), project.settings())
    assert len(_posts(llm)) == 3
    assert result.calls.retries == 2
    assert result.rows[0].output.error and "HTTP 503" in result.rows[0].output.error


def test_a_retry_after_beyond_the_eval_limit_ends_the_call_at_once(
    project: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    llm.set_responder(lambda _b: Reply(status=429, retry_after=3600))
    start = time.perf_counter()
    result = run_suite(load_suite(make_suite(limit=1, retries=3)), project.settings())
    assert time.perf_counter() - start < 30
    assert len(_posts(llm)) == 1 and result.calls.retries == 0
    assert result.rows[0].output.error and "HTTP 429" in result.rows[0].output.error


def test_ragas_requests_retry_in_the_transport(
    project: Project, judge: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    failed: list[int] = []

    def respond(body: dict[str, Any]) -> Reply:
        judged = ragas_judge_reply(body)
        if judged is not None:
            if not failed:  # the first ragas request fails once, retryably
                failed.append(1)
                return Reply(status=503, retry_after=0.01)
            return judged
        answer = knowing_responder(body).content
        return gateway_reply(answer, [{"id": "c1", "text": answer, "source": "zorb.md"}])

    judge.set_responder(respond)
    project.golden([{"id": "q1", "input": "What colour is the zorb?", "reference": "blue"}])
    suite = load_suite(make_suite(metrics=[{"type": "ragas-faithfulness"}], limit=1))
    result = run_suite(suite, project.settings())
    assert result.metrics[0].status == "pass", result.rows[0].metrics
    ragas_posts = [r for r in _posts(judge) if "response_format" in r["json"]]
    # faithfulness makes 2 requests; the one that failed was sent again by the transport
    assert len(ragas_posts) == 3 and failed == [1]
    assert result.calls.retries == 1
    assert result.calls.judge_calls == 3
