"""Comparisons: incomparable runs are refused with the reason; comparable ones are paired."""

from __future__ import annotations

import pytest
from dash_helpers import lineage, make_run

from llmops.dashboard import History, build_payload
from llmops.dashboard.compare import Side, compare, incomparable, slice_intervals
from llmops.evals.gate import paired_bootstrap


def _side(run, label="x"):  # type: ignore[no-untyped-def]
    return Side(
        label=label,
        suite=run.suite,
        lineage=run.lineage.model_dump(mode="json", exclude_none=True),
        scores={m.name: run.item_scores(m.name) for m in run.metrics},
        means={m.name: m.mean for m in run.metrics},
    )


@pytest.mark.parametrize(
    ("other", "needle"),
    [
        (lineage(dataset="e" * 64), "different dataset"),
        (lineage(judge="another-judge"), "different judge"),
        (lineage(judge_url="http://127.0.0.1:10/v1"), "different judge"),
        (lineage(judge=None), "different judge"),
        (lineage(dataset=""), "dataset hash unknown"),
    ],
)
def test_incomparable_lineage_is_refused_with_the_reason(other, needle) -> None:  # type: ignore[no-untyped-def]
    base = _side(make_run(20, seed=1), "base")
    cand = _side(make_run(20, seed=2, lin=other), "cand")
    reasons = incomparable(base, cand)
    assert any(needle in r for r in reasons), reasons
    doc = compare(base, cand)
    assert doc["verdict"] == "refused" and doc["metrics"] == [] and doc["diffs"] == []


def test_prompt_or_commit_changes_stay_comparable() -> None:
    base = _side(make_run(20, seed=1))
    cand = _side(make_run(20, seed=2, lin=lineage(prompt_version="4", commit="f" * 40)))
    assert incomparable(base, cand) == []


def test_comparison_is_the_paired_bootstrap_and_diffs_sort_by_regression() -> None:
    first = make_run(200, seed=1)
    second = make_run(200, seed=1, shift={"returns": 0.3})
    doc = compare(_side(first), _side(second), gate={"alpha": 0.05, "min_effect": 0.02})
    faith = next(m for m in doc["metrics"] if m["name"] == "faithfulness")
    ids = sorted(first.item_scores("faithfulness"))
    ref = paired_bootstrap(
        [second.item_scores("faithfulness")[i] for i in ids],
        [first.item_scores("faithfulness")[i] for i in ids],
    )
    assert faith["diff"] == pytest.approx(ref.diff, abs=1e-4)
    assert faith["low"] == pytest.approx(ref.low, abs=1e-4)
    assert faith["verdict"] == "regressed" and doc["verdict"] == "fail"
    worst = [d["worst"] for d in doc["diffs"]]
    assert worst == sorted(worst) and worst[0] < -0.2
    assert doc["diffs_total"] == 200


def test_slices_show_a_regression_hidden_in_one_tag() -> None:
    first = make_run(400, seed=1)
    second = make_run(400, seed=1, shift={"returns": 0.08})
    tags = {r.id: r.tags for r in second.rows}
    scores = {"faithfulness": second.item_scores("faithfulness")}
    base = {"faithfulness": first.item_scores("faithfulness")}
    slices = {s["tag"]: s["metrics"]["faithfulness"] for s in slice_intervals(tags, scores, base)}
    assert slices["returns"]["diff_high"] < 0  # the slice regressed significantly
    for tag in ("billing", "shipping", "account"):
        assert slices[tag]["diff"] == pytest.approx(0.0, abs=1e-9)
    overall = compare(_side(first), _side(second), gate={"min_effect": 0.05})
    faith = next(m for m in overall["metrics"] if m["name"] == "faithfulness")
    assert faith["verdict"] != "regressed"  # the average hides it: -0.02 overall
    for cell in slices.values():
        assert cell["low"] <= cell["mean"] <= cell["high"]


def test_payload_holds_a_refusal_and_a_comparison(history: History) -> None:
    payload = build_payload(history)
    by_suite = {s["name"]: s for s in payload["suites"]}
    (refused,) = by_suite["billing"]["comparisons"]
    assert refused["verdict"] == "refused" and "different dataset" in refused["refused"][0]
    (support,) = by_suite["support"]["comparisons"]
    assert support["refused"] is None and support["verdict"] == "fail"
