"""Online evaluation with a judge: verdicts written back, corrected for the judge's measured
error rates (Rogan-Gladen), and a judge that is down or over budget reported, never silent.

The judge is the scripted OpenAI-compatible server (exact verdicts are the point here); the
groundedness metric runs on the real MiniLM model.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmops.config import load_settings
from llmops.evals.records import ItemRow, MetricResult, RunResult, TargetOutput
from llmops.monitor.exporter import signal_rows
from llmops.monitor.queries import Window
from llmops.monitor.report import build_report
from llmops.monitor.scoring import Scorer
from llmops.testing import Reply, ScriptedLLMServer
from llmops.traces import TraceRecord, TraceStore

CONTEXT = "Cook spaghetti for nine to eleven minutes until al dente."
NOW = 1_780_000_000.0


def _verdict(body: dict[str, Any]) -> Reply:
    user = body["messages"][-1]["content"]
    answer = user.split("<answer>")[1].split("</answer>")[0]
    supported = "cheese" not in answer
    reply = {
        "answer_claims": [{"claim": answer.strip(), "supported": supported}],
        "answer_relevancy": {"question": "How long?", "score": 0.9, "noncommittal": False},
        "contexts": [],
        "reference_claims": [],
    }
    return Reply(json.dumps(reply))


def _calibration(path: Path) -> None:
    """A judge that says pass for 45 of 50 faithful answers and fail for 40 of 50 unfaithful."""
    rows = []
    for i in range(100):
        human = i < 50
        judge = (i < 45) if human else (i >= 90)
        result = MetricResult.scored(1.0 if judge else 0.0, 0.5, label=human)
        rows.append(
            ItemRow(id=f"c{i}", input="q", output=TargetOutput(), metrics={"faithfulness": result})
        )
    run = RunResult(suite="calibration", started_at="2026-12-01T00:00:00Z", rows=rows)
    path.write_text(run.model_dump_json())


@pytest.fixture
def project(tmp_path: Path, repo_root: Path) -> Iterator[tuple[Path, ScriptedLLMServer]]:
    shutil.copytree(repo_root / "prompts", tmp_path / "prompts")
    _calibration(tmp_path / "calibration.json")
    with ScriptedLLMServer() as judge:
        judge.set_responder(_verdict)
        (tmp_path / "llmops.yaml").write_text(
            textwrap.dedent(
                f"""\
                judge: {{base_url: "{judge.base_url}", model: judge-model, max_retries: 0}}
                monitor:
                  sampler: {{judge_budget_per_hour: 1000}}
                  hallucination: {{calibration: calibration.json}}
                """
            )
        )
        yield tmp_path, judge


def _traces(store: TraceStore, n: int = 40) -> None:
    records = []
    for i in range(n):
        bad = i % 4 == 0
        answer = "The moon is made of green cheese." if bad else CONTEXT
        records.append(
            TraceRecord(
                f"t{i}", ts=NOW + i, route="qa", question="How long should spaghetti cook?",
                answer=answer, chunk_ids=["c1"], chunk_scores=[0.7], sample_u=0.01,
                inclusion_p=0.5, sampled=True,
                contexts=[{"id": "c1", "text": CONTEXT, "source": "pasta.md", "score": 0.7}],
            )
        )  # fmt: skip
    store.write(records)


def test_judge_verdicts_are_written_back_and_corrected(
    project: tuple[Path, ScriptedLLMServer],
) -> None:
    root, judge = project
    settings = load_settings(root)
    store = TraceStore(settings.trace_url)
    _traces(store)
    status = Scorer(store, settings, clock=lambda: NOW + 100).score_pending()
    assert status.scored == 40 and status.judged == 40 and status.judge_state == "ok"
    # One judge call per distinct trace (judge-rag: every aspect in one call); identical
    # traces (same question, answer and contexts) are answered from the eval model cache.
    assert len(judge.requests) == 2
    rows = {r["request_id"]: r for r in store.query(limit=None)}
    assert rows["t0"]["judge_faithfulness"] == 0.0 and rows["t0"]["unsupported"] is True
    assert rows["t1"]["judge_faithfulness"] == 1.0 and rows["t1"]["unsupported"] is False
    assert rows["t1"]["judge"] == "judge-model" and rows["t1"]["judge_relevance"] == 0.9
    report = build_report(store, settings, Window(NOW, NOW + 3600), route="qa").routes[0]
    judged = report.signal("judge_unfaithful_rate")
    assert judged.status == "ok"
    assert judged.evidence["observed"]["value"] == pytest.approx(0.25)
    # sensitivity 0.8, specificity 0.9: (0.25 + 0.9 - 1) / 0.7 = 0.214
    assert judged.value == pytest.approx((0.25 + 0.9 - 1) / 0.7, abs=1e-3)
    assert "Rogan-Gladen" in judged.evidence["correction"] and "on 50" in judged.message
    grounded = report.signal("unsupported_rate")
    assert grounded.value == pytest.approx(0.25)
    store.close()


def test_a_judge_that_is_down_or_over_budget_is_reported(
    project: tuple[Path, ScriptedLLMServer],
) -> None:
    root, judge = project
    judge.set_responder(lambda body: Reply("", status=500))
    settings = load_settings(root)
    store = TraceStore(settings.trace_url)
    _traces(store, 10)
    status = Scorer(store, settings, clock=lambda: NOW + 100).score_pending()
    assert status.judge_state == "failing" and status.judge_errors == 1
    assert status.judge_skipped == 9  # no call after the first failure in a pass
    assert len(judge.requests) == 1
    rows = store.query(limit=None)
    assert all(r["groundedness"] is not None for r in rows)  # the offline score still ran
    assert all("judge" in (r["score_error"] or "") for r in rows)
    published = {
        (name, labels.get("scorer")): value
        for name, labels, value in signal_rows([], [], status, NOW)
    }
    assert published[("llmops_monitor_scoring_ok", "judge")] == 0.0
    assert published[("llmops_monitor_scoring_ok", "groundedness")] == 1.0
    report = build_report(store, settings, Window(NOW, NOW + 3600), route="qa").routes[0]
    assert report.signal("judge_unfaithful_rate").status == "no_judge"  # no rate from nothing
    assert report.details["hallucination"]["last_error"]
    store.close()

    judge.set_responder(_verdict)
    settings.monitor.sampler.judge_budget_per_hour = 3
    store = TraceStore(f"sqlite:///{root / 'budget.db'}")
    _traces(store, 10)
    status = Scorer(store, settings, clock=lambda: NOW + 100).score_pending()
    assert status.judged == 3 and status.judge_skipped == 7
    spent = [r for r in store.query(limit=None) if r["judge_faithfulness"] is None]
    assert len(spent) == 7 and all("budget" in r["score_error"] for r in spent)
    store.close()
