"""Synthetic eval runs (real RunResult models) for the dashboard tests."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from llmops.evals.gate import find_flaky
from llmops.evals.records import ItemRow, MetricResult, MetricSummary, RunResult, TargetOutput
from llmops.lineage import JudgeLineage, Lineage, PromptLineage

if TYPE_CHECKING:
    from llmops.dashboard import History

TAGS = ["billing", "shipping", "returns", "account"]
METRICS = ["faithfulness", "contains"]


def lineage(
    *,
    dataset: str = "d" * 64,
    judge: str | None = "judge-model",
    judge_url: str | None = "http://127.0.0.1:9/v1",
    prompt_version: str = "3",
    commit: str = "c0ffee" + "0" * 34,
) -> Lineage:
    return Lineage(
        prompt=PromptLineage(name="support", version=prompt_version, content_hash="h" * 64),
        upstream="vllm",
        upstream_model="smollm2-135m",
        judge=JudgeLineage(model=judge, base_url=judge_url) if judge else None,
        dataset_hash=dataset,
        llmops_version="0.1.0",
        git_commit=commit,
    )


def make_run(
    n: int,
    *,
    seed: int = 0,
    started: str = "2026-12-01T10:00:00+00:00",
    shift: dict[str, float] | None = None,
    repeats: int = 1,
    lin: Lineage | None = None,
    suite: str = "support",
    answer_extra: str = "",
    labelled: bool = True,
) -> RunResult:
    """Return a run of ``n`` items; ``shift`` lowers the faithfulness of one tag's items."""
    rng = random.Random(seed)
    lin = lin or lineage()
    rows = []
    for i in range(n):
        tag = TAGS[i % len(TAGS)]
        base = (i * 7919 % 100) / 100.0
        for r in range(repeats):
            score = min(1.0, max(0.0, 0.55 + 0.4 * base + rng.uniform(-0.05, 0.05)))
            score -= (shift or {}).get(tag, 0.0)
            score = min(1.0, max(0.0, score))
            contains = 1.0 if (i + r) % 9 else 0.0
            human = base > 0.3
            metrics = {
                "faithfulness": MetricResult.scored(
                    score,
                    0.7,
                    reason=f"{int(score * 4)} of 4 claims supported",
                    claims=[{"claim": "c", "verdict": "supported"}],
                    **({"label": human} if labelled else {}),
                ),
                "contains": MetricResult.scored(contains, 1.0, reason="substring check"),
            }
            rows.append(
                ItemRow(
                    id=f"q{i:05d}",
                    repeat=r,
                    input=f"Question number {i} about {tag}?",
                    reference=f"Reference answer {i}.",
                    tags=[tag],
                    output=TargetOutput(
                        answer=f"Answer {i} for {tag}.{answer_extra}",
                        contexts=[
                            {
                                "id": f"doc{i}#0",
                                "text": f"Context passage {i}.",
                                "source": f"{tag}.md",
                                "score": 0.8,
                            },
                            {
                                "id": f"doc{i}#1",
                                "text": "Another passage.",
                                "source": "misc.md",
                                "score": 0.5,
                            },
                        ],
                        latency_ms=100.0 + i % 50,
                        lineage=lin,
                    ),
                    metrics=metrics,
                    lineage=lin,
                )
            )
    run = RunResult(
        suite=suite,
        suite_file=None,
        started_at=started,
        finished_at=started,
        wall_s=1.0 + seed,
        items=n,
        repeats=repeats,
        lineage=lin,
        judge={"base_url": lin.judge.base_url, "model": lin.judge.model} if lin.judge else {},
        rows=rows,
    )
    summaries = []
    for name, thr in (("faithfulness", 0.7), ("contains", 1.0)):
        scores = run.item_scores(name)
        statuses = [row.metrics[name].status for row in rows]
        summaries.append(
            MetricSummary(
                name=name,
                type="judge" if name == "faithfulness" else "contains",
                mean=sum(scores.values()) / len(scores),
                pass_rate=statuses.count("pass") / len(statuses),
                threshold=thr,
                counts={s: statuses.count(s) for s in set(statuses)},
            )
        )
    run.metrics = summaries
    run.flaky = find_flaky(run)
    run.passed = True
    run.gate = {"baseline": False, "alpha": 0.05, "min_effect": 0.02}
    from llmops.evals.calibration import calibrate

    run.calibration = calibrate(run)
    return run


def baseline_doc(run: RunResult) -> dict[str, Any]:
    from llmops.evals.report import baseline_from_run

    return baseline_from_run(run)


def record_changed_suite(history: History, items: int, changed: Lineage) -> None:
    """Record two runs of the ``billing`` suite, the second with the ``changed`` lineage (so the
    dashboard must refuse to compare them)."""
    history.record(make_run(items, seed=3, suite="billing", started="2026-12-01T09:00:00+00:00"))
    history.record(
        make_run(items, seed=4, suite="billing", started="2026-12-03T09:00:00+00:00", lin=changed)
    )
