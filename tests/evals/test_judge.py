"""LLM-as-judge metrics against the scripted server: valid, malformed, slow, 429, no judge."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from evals_helpers import (
    JUDGE_RUBRIC,
    RAG_RUBRIC,
    Project,
    is_judge_call,
    knowing_responder,
    verdict,
)

from llmops.evals import load_suite, run_suite
from llmops.evals.calibration import agreement
from llmops.evals.verdicts import parse_verdict
from llmops.testing import Reply, ScriptedLLMServer

JUDGE_METRIC = {"type": "judge", "metric": "ok", "value": "judge-ok@draft"}


@pytest.fixture
def judged(project: Project, judge: ScriptedLLMServer) -> Project:
    project.write("prompts/judge-ok.yaml", JUDGE_RUBRIC)
    project.write("prompts/judge-rag.yaml", RAG_RUBRIC)
    return project


def _judge_requests(llm: ScriptedLLMServer) -> list[dict[str, Any]]:
    return [
        r["json"]
        for r in llm.requests
        if r["path"].endswith("/chat/completions") and is_judge_call(r["json"])
    ]


def responder_with(judge: Callable[[dict[str, Any]], Reply]) -> Callable[[dict[str, Any]], Reply]:
    def respond(body: dict[str, Any]) -> Reply:
        return judge(body) if is_judge_call(body) else knowing_responder(body)

    return respond


def test_no_judge_configured_is_skipped_never_passed(
    project: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    project.write("prompts/judge-ok.yaml", JUDGE_RUBRIC)
    llm.set_responder(knowing_responder)
    result = run_suite(load_suite(make_suite(metrics=[JUDGE_METRIC])), project.settings())
    summary = result.metrics[0]
    assert summary.status == "skipped" and summary.mean is None
    assert summary.counts == {"skipped": 8}
    assert "no judge configured" in summary.reasons[0]
    assert "LLMOPS_JUDGE_BASE_URL" in summary.reasons[0]
    assert all(row.metrics["ok"].status == "skipped" for row in result.rows)


def test_valid_verdicts_with_lineage(
    judged: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    llm.set_responder(responder_with(lambda body: Reply(content=verdict(0.9))))
    result = run_suite(load_suite(make_suite(metrics=[JUDGE_METRIC])), judged.settings())
    assert result.metrics[0].mean == pytest.approx(0.9) and result.passed
    assert len(_judge_requests(llm)) == 8
    judge = result.rows[0].lineage.judge
    assert judge is not None and judge.model == "judge-model"
    assert judge.rubric is not None and judge.rubric.name == "judge-ok"
    assert _judge_requests(llm)[0]["temperature"] == 0
    # the verdict cache: a re-run calls neither target nor judge
    again = run_suite(load_suite(make_suite(metrics=[JUDGE_METRIC])), judged.settings())
    assert again.calls.model_calls == 0


def test_malformed_verdict_is_repaired(
    judged: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    llm.set_responder(responder_with(lambda body: Reply(content=verdict(1.0))))
    llm.enqueue(Reply(content="q1 answer"), Reply(content="Sure! The answer looks great."))
    suite = load_suite(make_suite(metrics=[JUDGE_METRIC], limit=1, concurrency=1))
    result = run_suite(suite, judged.settings())
    assert result.rows[0].metrics["ok"].status == "pass"
    repair = _judge_requests(llm)[-1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "Sure! The answer looks great."}
    assert "not valid" in repair[-1]["content"]
    assert result.calls.judge_calls == 2


def test_judge_returning_non_json_forever_errors_the_item_and_run_continues(
    judged: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    def judge(body: dict[str, Any]) -> Reply:
        if "zorb" in json.dumps(body):
            return Reply(content="I refuse to answer in JSON.")
        return Reply(content=verdict(1.0))

    llm.set_responder(responder_with(judge))
    result = run_suite(load_suite(make_suite(metrics=[JUDGE_METRIC])), judged.settings())
    statuses = {row.id: row.metrics["ok"].status for row in result.rows}
    assert statuses["q1"] == "error" and statuses["u1"] == "error"
    assert "not a valid verdict after 3 attempts" in result.rows[0].metrics["ok"].reason
    assert [s for k, s in statuses.items() if k not in ("q1", "u1")] == ["pass"] * 6
    assert result.passed is False and result.metrics[0].status == "error"
    # not cached: the broken verdicts are asked again next time, the good ones are not
    llm.requests.clear()
    run_suite(load_suite(make_suite(metrics=[JUDGE_METRIC])), judged.settings())
    assert len(_judge_requests(llm)) == 2 * 3


def test_slow_judge_times_out_and_429_is_retried(
    judged: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    llm.set_responder(responder_with(lambda body: Reply(content=verdict(1.0))))
    llm.enqueue(Reply(content="target answer"), Reply(status=429, retry_after=0.01))
    suite = load_suite(
        make_suite(metrics=[JUDGE_METRIC], limit=1, concurrency=1, timeout=0.5, retries=1)
    )
    result = run_suite(suite, judged.settings())
    assert result.rows[0].metrics["ok"].status == "pass" and result.calls.retries == 1
    llm.set_responder(responder_with(lambda body: Reply(content=verdict(1.0), delay=2.0)))
    result = run_suite(
        load_suite(
            make_suite(
                metrics=[JUDGE_METRIC],
                limit=2,
                retries=1,
                tags=["unanswerable"],
                judge={"timeout": 0.5},
            )
        ),
        judged.settings(),
    )
    assert all(r.metrics["ok"].status == "error" for r in result.rows)
    assert all(r.output.error is None for r in result.rows)  # the target was not slow
    assert "timed out after 0.5 s" in result.rows[0].metrics["ok"].reason


def test_judge_timeout_default_config_and_suite_override(
    judged: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    from llmops.config import load_settings

    # A judge that takes 1 s per verdict (a local CPU model under load takes minutes).
    llm.set_responder(responder_with(lambda body: Reply(content=verdict(1.0), delay=1.0)))
    assert load_settings(judged.root).judge.timeout == 600.0
    # the suite's `timeout` bounds target calls only: the judge has its own, longer budget
    fast_targets = make_suite(metrics=[JUDGE_METRIC], limit=2, timeout=0.5, retries=0)
    result = run_suite(load_suite(fast_targets), judged.settings())
    assert [r.metrics["ok"].status for r in result.rows] == ["pass", "pass"]

    # llmops.yaml judge.timeout applies to every suite... (other items: verdicts are cached)
    judged.write("llmops.yaml", "judge:\n  timeout: 0.3\n")
    assert judged.settings().judge.timeout == 0.3
    other = {"metrics": [JUDGE_METRIC], "tags": ["unanswerable"], "retries": 0}
    result = run_suite(load_suite(make_suite(**other)), judged.settings())
    assert [r.metrics["ok"].status for r in result.rows] == ["error", "error"]
    assert "timed out" in result.rows[0].metrics["ok"].reason
    # ...unless the suite sets its own
    patient = make_suite(**other, judge={"timeout": 30})
    result = run_suite(load_suite(patient), judged.settings())
    assert [r.metrics["ok"].status for r in result.rows] == ["pass", "pass"]


def test_combined_rag_verdict_costs_one_call_per_item(
    judged: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    four = json.dumps(
        {
            "faithfulness": json.loads(verdict(1.0)),
            "answer_relevancy": json.loads(verdict(0.8)),
            "context_precision": json.loads(verdict(0.6)),
            "context_recall": json.loads(verdict(0.2)),
        }
    )
    llm.set_responder(responder_with(lambda body: Reply(content=four)))
    metrics = [
        {"type": "judge-rag", "metric": aspect, "value": "judge-rag@draft"}
        for aspect in ("faithfulness", "answer_relevancy", "context_precision", "context_recall")
    ]
    result = run_suite(load_suite(make_suite(metrics=metrics)), judged.settings(), None)
    assert len(_judge_requests(llm)) == 8  # one per item for all four aspects
    assert [m.mean for m in result.metrics] == pytest.approx([1.0, 0.8, 0.6, 0.2])
    assert _judge_requests(llm)[0]["response_format"] == {"type": "json_object"}


def test_samples_majority_and_calibration_gate(
    judged: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    records = [
        {
            "id": f"c{i}",
            "input": f"Question {i}?",
            "reference": "x",
            "labels": {"faithful": i % 2 == 0},
        }
        for i in range(8)
    ]
    judged.golden(records)
    calls = {"n": 0}

    def judge(body: dict[str, Any]) -> Reply:
        calls["n"] += 1
        return Reply(content=verdict(1.0 if calls["n"] % 3 else 0.0))

    llm.set_responder(responder_with(judge))
    metric = {**JUDGE_METRIC, "options": {"label": "faithful"}}
    suite = load_suite(
        make_suite(
            metrics=[metric],
            judge={"samples": 3, "aggregate": "majority", "min_kappa": 0.5},
            concurrency=1,
        )
    )
    result = run_suite(suite, judged.settings())
    requests = _judge_requests(llm)
    assert len(requests) == 24 and requests[0]["temperature"] == 0.7
    assert all(len(r.metrics["ok"].details["verdicts"]) == 3 for r in result.rows)
    assert {r.metrics["ok"].score for r in result.rows} == {1.0}  # 2 of 3 pass each time
    cal = result.calibration["ok"]
    assert cal["n"] == 8 and cal["accuracy"] == 0.5 and cal["kappa"] == 0.0
    assert cal["tpr"] == 1.0 and cal["tnr"] == 0.0
    assert result.passed is False and "kappa 0.00 < min_kappa 0.50" in cal["reason"]


def test_agreement_figures() -> None:
    figures = agreement([True, True, False, False], [True, False, False, False])
    assert (
        figures["accuracy"] == 0.75
        and figures["tpr"] == 1.0
        and figures["tnr"] == pytest.approx(0.6667, abs=1e-4)
    )
    assert figures["kappa"] == 0.5


@pytest.mark.parametrize(
    "text",
    [
        '{"score": 2, "verdict": "pass"}',
        '{"score": 0.5, "verdict": "maybe"}',
        "no json",
        '{"verdict": "pass"}',
    ],
)
def test_invalid_verdicts_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_verdict(text)


def test_fenced_verdict_is_accepted() -> None:
    assert (
        parse_verdict('Here:\n```json\n{"score": 1, "verdict": "pass", "reason": "r"}\n```').score
        == 1.0
    )


PAIRWISE_RUBRIC = """\
name: judge-pair
variables:
  question: {type: string}
  answer_a: {type: string}
  answer_b: {type: string}
messages:
  - role: system
    content: "You are an evaluator comparing two answers. Reply JSON {winner: A|B|tie, reason}."
  - role: user
    content: "Q: {{ question }}\\nA: {{ answer_a }}\\nB: {{ answer_b }}"
"""


@pytest.mark.parametrize(
    ("judge_kind", "expected"),
    [("fair", 1.0), ("always-a", 0.5)],
)
def test_pairwise_comparison_with_position_swap(
    judged: Project,
    llm: ScriptedLLMServer,
    make_suite: Callable[..., Path],
    judge_kind: str,
    expected: float,
) -> None:
    judged.write("prompts/judge-pair.yaml", PAIRWISE_RUBRIC)

    def respond(body: dict[str, Any]) -> Reply:
        if is_judge_call(body):
            if judge_kind == "always-a":
                return Reply(content='{"winner": "A", "reason": "first is best"}')
            user = body["messages"][-1]["content"]
            a_part = user.split("\nA: ")[1].split("\nB: ")[0]
            return Reply(content=json.dumps({"winner": "A" if "zorb is blue" in a_part else "B"}))
        if body["model"] == "other-model":
            return Reply(content="The zorb is green.")
        return knowing_responder(body)

    llm.set_responder(respond)
    metric = {
        "type": "pairwise",
        "value": "judge-pair@draft",
        "options": {"against": {"type": "http", "url": llm.base_url, "model": "other-model"}},
    }
    result = run_suite(load_suite(make_suite(metrics=[metric], limit=1)), judged.settings())
    row = result.rows[0].metrics["pairwise"]
    assert row.score == expected
    assert row.details["other_answer"] == "The zorb is green."
    assert len(_judge_requests(llm)) == 2  # both orders
    orders = [r["messages"][-1]["content"] for r in _judge_requests(llm)]
    assert "A: The zorb is blue." in orders[0] and "B: The zorb is blue." in orders[1]
