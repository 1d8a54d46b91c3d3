"""The shipped one-call RAG rubric (judge-rag@production): its detailed reply is scored with
ragas' formulas; the flat form still works; malformed replies are repaired; no reference skips."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from evals_helpers import (
    FACTS,
    Project,
    gateway_reply,
    is_judge_call,
    knowing_responder,
    last_user,
)

from llmops.evals import load_suite, run_suite
from llmops.evals.verdicts import RagScoring, average_precision, parse_rag_verdict
from llmops.testing import Reply, ScriptedLLMServer

ASPECTS = ("faithfulness", "answer_relevancy", "context_precision", "context_recall")
CONTEXTS = [
    {"id": "k1", "text": "The zorb is blue.", "source": "zorb.md"},
    {"id": "k2", "text": "Quints have five legs.", "source": "quint.md"},
    {"id": "k3", "text": "Zorbs live in ponds.", "source": "zorb.md"},
]


def detailed(
    claims: list[bool] | None = None,
    relevancy: float = 0.8,
    noncommittal: bool = False,
    contexts: list[tuple[str, bool]] | None = None,
    reference: list[bool] | None = None,
) -> dict[str, Any]:
    return {
        "answer_claims": [
            {"claim": f"claim {i}", "supported": s} for i, s in enumerate(claims or [])
        ],
        "answer_relevancy": {"question": "q?", "score": relevancy, "noncommittal": noncommittal},
        "contexts": [{"id": i, "useful": u} for i, u in (contexts or [])],
        "reference_claims": [
            {"claim": f"ref {i}", "attributed": a} for i, a in enumerate(reference or [])
        ],
    }


# --- the formulas -------------------------------------------------------------------------


def test_detailed_reply_is_scored_with_ragas_formulas() -> None:
    reply = detailed(
        claims=[True, False, True],
        relevancy=0.8,
        contexts=[("k1", True), ("k2", False), ("k3", True)],
        reference=[True, False],
    )
    verdict = parse_rag_verdict(json.dumps(reply), RagScoring(0.7, ["k1", "k2", "k3"]))
    assert verdict.form == "detailed"
    assert verdict.faithfulness is not None and verdict.faithfulness.score == pytest.approx(2 / 3)
    assert verdict.faithfulness.verdict == "fail"  # 0.667 < 0.7
    assert "unsupported: 'claim 1'" in verdict.faithfulness.reason
    assert verdict.answer_relevancy is not None and verdict.answer_relevancy.score == 0.8
    assert verdict.context_precision is not None
    assert verdict.context_precision.score == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert verdict.context_precision.verdict == "pass"
    assert verdict.context_recall is not None and verdict.context_recall.score == 0.5
    assert verdict.context_recall.verdict == "fail" and "missing: 'ref 1'" in (
        verdict.context_recall.reason
    )


def test_contexts_are_put_in_rank_order_by_id() -> None:
    reply = detailed(claims=[True], contexts=[("k3", True), ("k1", True), ("k2", False)])
    reply["reference_claims"] = [{"claim": "r", "attributed": 1}]  # 0/1 are booleans too
    verdict = parse_rag_verdict(json.dumps(reply), RagScoring(context_ids=["k1", "k2", "k3"]))
    assert verdict.context_precision is not None
    assert verdict.context_precision.score == pytest.approx((1 + 2 / 3) / 2)
    assert "101" in verdict.context_precision.reason


def test_noncommittal_answer_scores_zero_relevancy() -> None:
    verdict = parse_rag_verdict(json.dumps(detailed(relevancy=0.9, noncommittal=True)))
    assert verdict.answer_relevancy is not None and verdict.answer_relevancy.score == 0.0
    assert verdict.answer_relevancy.verdict == "fail"


def test_no_claims_leave_faithfulness_and_recall_undefined_like_ragas() -> None:
    verdict = parse_rag_verdict(json.dumps(detailed(claims=[], reference=[])))
    assert verdict.faithfulness is None and verdict.context_recall is None
    assert "makes no claims" in verdict.missing["faithfulness"]
    assert "makes no claims" in verdict.missing["context_recall"]
    # no context useful at all: ragas' 0 / (0 + 1e-10) = 0
    assert verdict.context_precision is not None and verdict.context_precision.score == 0.0


def test_without_reference_precision_and_recall_are_not_scored() -> None:
    reply = detailed(claims=[True])
    del reply["reference_claims"]
    verdict = parse_rag_verdict(
        json.dumps(reply), RagScoring(context_ids=["k1"], has_reference=False)
    )
    assert verdict.faithfulness is not None and verdict.faithfulness.score == 1.0
    assert verdict.context_precision is None and verdict.context_recall is None
    assert verdict.missing["context_recall"] == "no reference answer"


@pytest.mark.parametrize(
    ("reply", "context_ids", "error"),
    [
        (detailed(claims=[True], contexts=[("k1", True)]), ["k1", "k2"], "one verdict per context"),
        ({**detailed(claims=[True]), "reference_claims": None}, [], "reference_claims"),
        ({**detailed(), "answer_claims": [{"claim": "x"}]}, [], "answer_claims.0.supported"),
        ({**detailed(), "answer_relevancy": {"score": 7}}, [], "answer_relevancy.score"),
        ({"answer_claims": [], "contexts": []}, [], "answer_relevancy"),
        ({"faithfulness": {"score": 1, "verdict": "pass"}}, None, "answer_relevancy"),
        ([1, 2], None, "one JSON object"),
    ],
)
def test_malformed_rag_replies_are_rejected(
    reply: Any, context_ids: list[str] | None, error: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(error)):
        parse_rag_verdict(json.dumps(reply), RagScoring(context_ids=context_ids))


def test_flat_form_is_still_accepted() -> None:
    flat = {
        a: {"score": s, "verdict": "pass" if s >= 0.5 else "fail", "reason": a}
        for a, s in zip(ASPECTS, (1.0, 0.8, 0.6, 0.2), strict=True)
    }
    verdict = parse_rag_verdict(json.dumps(flat))
    assert verdict.form == "flat" and verdict.missing == {}
    assert [getattr(verdict, a).score for a in ASPECTS] == [1.0, 0.8, 0.6, 0.2]
    assert verdict.context_recall is not None and verdict.context_recall.verdict == "fail"


FLAG_CASES = [
    [True, False, True],
    [False, True],
    [True, True, True],
    [False, False],
    [False, False, True, True, False],
    [],
]


@pytest.mark.parametrize("flags", FLAG_CASES)
def test_scores_match_ragas_own_code(flags: list[bool]) -> None:
    """The same decisions through ragas 0.4.3's scoring functions give the same numbers."""
    import math

    from ragas.metrics._context_precision import LLMContextPrecisionWithReference, Verification
    from ragas.metrics._context_recall import ContextRecallClassification, LLMContextRecall
    from ragas.metrics._faithfulness import (
        Faithfulness,
        NLIStatementOutput,
        StatementFaithfulnessAnswer,
    )

    ragas_ap = LLMContextPrecisionWithReference()._calculate_average_precision(
        [Verification(reason="", verdict=int(f)) for f in flags]
    )
    assert average_precision(flags) == pytest.approx(ragas_ap)
    ragas_faith = Faithfulness()._compute_score(
        NLIStatementOutput(
            statements=[
                StatementFaithfulnessAnswer(statement="s", reason="", verdict=int(f)) for f in flags
            ]
        )
    )
    ragas_recall = LLMContextRecall()._compute_score(
        [ContextRecallClassification(statement="s", reason="", attributed=int(f)) for f in flags]
    )
    ours = parse_rag_verdict(
        json.dumps(detailed(claims=flags, contexts=[], reference=flags)), RagScoring(context_ids=[])
    )
    if flags:
        assert ours.faithfulness is not None and ours.context_recall is not None
        assert ours.faithfulness.score == pytest.approx(ragas_faith)
        assert ours.context_recall.score == pytest.approx(ragas_recall)
    else:  # ragas: NaN (with a warning); ours: no score, with the reason
        assert math.isnan(ragas_faith) and math.isnan(ragas_recall)
        assert ours.faithfulness is None and ours.context_recall is None


# --- through the runner, against the scripted judge ----------------------------------------


@pytest.fixture
def shipped(project: Project, judge: ScriptedLLMServer, repo_root: Path) -> Project:
    """A project with the repository's released prompts (judge-rag@production among them)."""
    shutil.copytree(repo_root / "prompts", project.root / "prompts")
    return project


def _target(body: dict[str, Any]) -> Reply:
    answer = knowing_responder(body).content
    return gateway_reply(answer, CONTEXTS)


def _judge_requests(llm: ScriptedLLMServer) -> list[dict[str, Any]]:
    return [
        r["json"]
        for r in llm.requests
        if r["path"].endswith("/chat/completions") and is_judge_call(r["json"])
    ]


# Default rubric: no `value`, so judge-rag@production is used.
METRICS = [{"type": "judge-rag", "metric": a} for a in ASPECTS]


def test_shipped_rubric_end_to_end_one_call_per_item(
    shipped: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    reply = detailed(
        claims=[True, False, True],
        relevancy=0.8,
        contexts=[("k1", True), ("k2", False), ("k3", True)],
        reference=[True, False],
    )

    def respond(body: dict[str, Any]) -> Reply:
        return Reply(content=json.dumps(reply)) if is_judge_call(body) else _target(body)

    llm.set_responder(respond)
    metrics = [*METRICS[:3], {**METRICS[3], "threshold": 0.6}]
    result = run_suite(load_suite(make_suite(metrics=metrics)), shipped.settings())
    assert len(_judge_requests(llm)) == 8  # one per item for all four aspects
    assert [m.mean for m in result.metrics] == pytest.approx([2 / 3, 0.8, 5 / 6, 0.5])
    assert [m.pass_rate for m in result.metrics] == [1.0, 1.0, 1.0, 0.0]
    lineage = result.rows[0].lineage.judge
    assert lineage is not None and lineage.rubric is not None
    assert (lineage.rubric.name, lineage.rubric.version) == ("judge-rag", "2")
    requests = _judge_requests(llm)
    # structured outputs: the schema is fitted to the item, one entry per context by id
    for r in requests:
        fmt = r["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
        schema = fmt["json_schema"]["schema"]
        contexts = schema["properties"]["contexts"]
        ids = [item["properties"]["id"]["enum"] for item in contexts["prefixItems"]]
        assert contexts["minItems"] == contexts["maxItems"] == len(ids) > 0
        assert all(f'<context id="{i}">' in last_user(r) for (i,) in ids)
    assert all(r["temperature"] == 0 for r in requests)
    # Items run concurrently: match each judge prompt to its record by the question.
    for user in map(last_user, requests):
        assert '<context id="k2">\nQuints have five legs.\n</context>' in user
        question = user.split("<question>\n", 1)[1].split("\n</question>", 1)[0]
        if question in FACTS:  # the record's reference is in the prompt
            assert f"<reference>\n{FACTS[question][0]}\n</reference>" in user
    assert any("<reference>\nThe zorb is blue.\n</reference>" in last_user(r) for r in requests)


def test_missing_reference_skips_precision_and_recall(
    shipped: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    shipped.golden([{"id": "n1", "input": "What colour is the zorb?"}])
    reply = detailed(claims=[True, True], relevancy=1.0)

    def respond(body: dict[str, Any]) -> Reply:
        return Reply(content=json.dumps(reply)) if is_judge_call(body) else _target(body)

    llm.set_responder(respond)
    result = run_suite(load_suite(make_suite(metrics=METRICS)), shipped.settings())
    row = result.rows[0].metrics
    assert row["faithfulness"].score == 1.0 and row["answer_relevancy"].score == 1.0
    for aspect in ("context_precision", "context_recall"):
        assert row[aspect].status == "skipped" and row[aspect].score is None
        assert "no reference answer" in row[aspect].reason
    assert "<reference>\n(none given)\n</reference>" in last_user(_judge_requests(llm)[0])


def test_abstaining_answer_has_no_faithfulness_score(
    shipped: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    reply = detailed(claims=[], relevancy=0.7, noncommittal=True, reference=[])
    reply["contexts"] = [{"id": c["id"], "useful": False} for c in CONTEXTS]

    def respond(body: dict[str, Any]) -> Reply:
        return Reply(content=json.dumps(reply)) if is_judge_call(body) else _target(body)

    llm.set_responder(respond)
    suite = load_suite(make_suite(metrics=METRICS, tags=["unanswerable"]))
    result = run_suite(suite, shipped.settings())
    row = result.rows[0].metrics
    assert row["faithfulness"].status == "n/a" and "no claims" in row["faithfulness"].reason
    assert row["answer_relevancy"].score == 0.0 and row["context_precision"].score == 0.0
    assert row["context_recall"].status == "n/a"


def test_malformed_detailed_reply_is_repaired(
    shipped: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    good = detailed(claims=[True], contexts=[(c["id"], True) for c in CONTEXTS], reference=[True])
    short = {**good, "contexts": good["contexts"][:2]}  # a context left out: not a valid reply
    answers = iter([short, good])

    def respond(body: dict[str, Any]) -> Reply:
        return Reply(content=json.dumps(next(answers))) if is_judge_call(body) else _target(body)

    llm.set_responder(respond)
    result = run_suite(load_suite(make_suite(metrics=METRICS, limit=1)), shipped.settings())
    assert [m.mean for m in result.metrics] == pytest.approx([1.0, 0.8, 1.0, 1.0])
    assert result.calls.judge_calls == 2
    repair = _judge_requests(llm)[-1]["messages"]
    assert "expected one verdict per context (3: k1, k2, k3), got 2" in repair[-1]["content"]


def test_shipped_rubric_renders_a_golden_record_and_lints(cli: Any, repo_root: Path) -> None:
    from llmops.config import load_settings
    from llmops.prompts import load_registry

    lint = cli("prompt", "lint", cwd=repo_root)
    assert lint.exit_code == 0, lint.stdout + lint.stderr
    rubric = load_registry(load_settings(repo_root)).get("judge-rag@production")
    assert rubric.lineage.version == "2"
    record = json.loads((repo_root / "golden_sets/python-docs.jsonl").read_text().splitlines()[0])
    contexts = [
        {"id": "topics/global.md#0", "text": "The global statement is a declaration.\nIt holds."}
    ]
    rendered = rubric.render(
        question=record["input"],
        answer="It declares globals. [topics/global.md#0]",
        contexts=contexts,
        reference=record["reference"],
    )
    system, user = (m["content"] for m in rendered.messages)
    for key in ("answer_claims", "answer_relevancy", "contexts", "reference_claims"):
        assert f'"{key}"' in system
    assert f"<question>\n{record['input']}\n</question>" in user
    assert f"<reference>\n{record['reference']}\n</reference>" in user
    assert (
        '<context id="topics/global.md#0">\nThe global statement is a declaration.\nIt holds.\n'
        in user
    )
    # the schema is left to llmops (fitted per item by the judge-rag metric)
    assert dict(rendered.params or {})["response_format"] == {"type": "json_schema"}


def test_contexts_without_ids_are_named_by_rank(
    shipped: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    reply = detailed(claims=[True], contexts=[("c1", False), ("c2", True)], reference=[True])

    def respond(body: dict[str, Any]) -> Reply:
        if is_judge_call(body):
            return Reply(content=json.dumps(reply))
        return gateway_reply("The zorb is blue.", [{"text": "Zorbs swim."}, {"text": "Blue."}])

    llm.set_responder(respond)
    result = run_suite(load_suite(make_suite(metrics=METRICS, limit=1)), shipped.settings())
    assert result.rows[0].metrics["context_precision"].score == pytest.approx(0.5)
    user = last_user(_judge_requests(llm)[0])
    assert '<context id="c1">\nZorbs swim.\n</context>' in user and '<context id="c2">' in user


def test_judge_rubrics_declaring_reference_receive_it(
    shipped: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    shipped.write(
        "prompts/judge-ref.yaml",
        "name: judge-ref\n"
        "variables:\n"
        "  question: {type: string}\n"
        "  answer: {type: string}\n"
        "  contexts: {type: array}\n"
        "  reference: {type: string, default: null}\n"
        "messages:\n"
        "  - role: system\n"
        '    content: "You are an evaluator. Reply JSON {score, verdict, reason}."\n'
        "  - role: user\n"
        '    content: "{{ question }} | {{ answer }} | {{ contexts | length }} | {{ reference }}"\n',
    )
    ok = json.dumps({"score": 1.0, "verdict": "pass", "reason": "ok"})

    def respond(body: dict[str, Any]) -> Reply:
        return Reply(content=ok) if is_judge_call(body) else _target(body)

    llm.set_responder(respond)
    metric = {"type": "judge", "metric": "ref", "value": "judge-ref@draft"}
    result = run_suite(load_suite(make_suite(metrics=[metric], limit=1)), shipped.settings())
    assert result.rows[0].metrics["ref"].status == "pass"
    user = last_user(_judge_requests(llm)[0])
    assert user == "What colour is the zorb? | The zorb is blue. | 3 | The zorb is blue."
