"""ragas metrics through the ragas library: LLM metrics against the scripted judge, non-LLM
metrics offline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from evals_helpers import Project, gateway_reply, knowing_responder, ragas_judge_reply

from llmops.evals import load_suite, run_suite
from llmops.testing import Reply, ScriptedLLMServer

RAGAS_LLM = [
    "ragas-faithfulness",
    "ragas-answer-relevancy",
    "ragas-context-precision",
    "ragas-context-recall",
]


def _respond(body: dict[str, Any]) -> Reply:
    judged = ragas_judge_reply(body)
    if judged is not None:
        return judged
    answer = knowing_responder(body).content
    return gateway_reply(answer, [{"id": "c1", "text": answer, "source": "zorb.md"}])


def test_ragas_llm_metrics_use_the_configured_judge(
    project: Project, judge: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    judge.set_responder(_respond)
    project.golden(
        [
            {
                "id": "q1",
                "input": "What colour is the zorb?",
                "reference": "The zorb is blue.",
                "reference_sources": ["zorb.md"],
            }
        ]
    )
    suite = load_suite(make_suite(metrics=[{"type": t} for t in RAGAS_LLM], limit=1))
    result = run_suite(suite, project.settings())
    assert {m.name: m.status for m in result.metrics} == dict.fromkeys(RAGAS_LLM, "pass")
    means = {m.name: m.mean for m in result.metrics}
    assert means["ragas-faithfulness"] == 1.0 and means["ragas-context-recall"] == 1.0
    assert means["ragas-answer-relevancy"] is not None and means["ragas-answer-relevancy"] > 0.3
    # the gateway's cited contexts reached ragas
    assert result.rows[0].output.contexts == [
        {"id": "c1", "text": "The zorb is blue.", "source": "zorb.md"}
    ]
    ragas_calls = [r for r in judge.requests if r["json"] and "response_format" in r["json"]]
    # faithfulness 2, answer relevancy 3 (strictness), context precision 1 per context, recall 1
    assert len(ragas_calls) == 2 + 3 + 1 + 1
    assert result.calls.judge_calls == len(ragas_calls)
    again = run_suite(suite, project.settings())
    assert again.calls.model_calls == 0


def test_ragas_without_judge_is_skipped(
    project: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    llm.set_responder(knowing_responder)
    result = run_suite(
        load_suite(make_suite(metrics=[{"type": "ragas-faithfulness"}], limit=2)),
        project.settings(),
    )
    assert result.metrics[0].status == "skipped"


def test_ragas_offline_metrics(
    project: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    llm.set_responder(knowing_responder)
    metrics = [
        {"type": t, "options": {"only": "answerable"}}
        for t in ("ragas-rouge", "ragas-bleu", "ragas-string-similarity")
    ]
    result = run_suite(load_suite(make_suite(metrics=metrics)), project.settings())
    assert [m.mean for m in result.metrics] == pytest.approx([1.0, 1.0, 1.0])
    assert all(m.counts.get("n/a") == 2 for m in result.metrics)
