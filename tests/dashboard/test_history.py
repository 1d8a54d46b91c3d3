"""The run history: recording, keyset pagination with filters, folder and MLflow import."""

from __future__ import annotations

from pathlib import Path

import pytest
from dash_helpers import baseline_doc, make_run

from llmops.dashboard import History, ItemQuery
from llmops.dashboard.runs import run_id_of


def _all_pages(hist: History, run_id: str, query: ItemQuery, limit: int) -> list[dict]:  # type: ignore[type-arg]
    seen, cursor, totals = [], None, set()
    while True:
        page, cursor, total = hist.page(run_id, query, after=cursor, limit=limit)
        totals.add(total)
        seen += page
        if cursor is None:
            break
    assert len(totals) == 1 and totals.pop() == len(seen)
    return seen


def test_record_keeps_lineage_summary_and_rows(history: History) -> None:
    runs = history.runs("support")
    assert [r.started_at[:10] for r in runs] == ["2026-12-01", "2026-12-02"]
    newest = runs[-1]
    assert newest.lineage["prompt"] == {"name": "support", "version": "3", "content_hash": "h" * 64}
    assert newest.lineage["judge"]["model"] == "judge-model"
    assert newest.lineage["dataset_hash"] == "d" * 64
    assert newest.lineage["git_commit"].startswith("beef")
    assert newest.repeats == 2 and newest.flaky_count > 0
    assert newest.confusion["faithfulness"]  # judge vs human labels, 2 x 2
    assert (
        sum(map(sum, newest.confusion["faithfulness"])) == newest.calibration["faithfulness"]["n"]
    )
    assert len(history.rows(newest.run_id)) == 480
    assert history.suites() == ["billing", "support"]


def test_keyset_pages_cover_every_item_once_most_regressed_first(history: History) -> None:
    run_id = history.runs("support")[-1].run_id
    rows = _all_pages(history, run_id, ItemQuery(), limit=37)
    assert len(rows) == 480 and len({r["seq"] for r in rows}) == 480
    deltas = [9.0 if r["delta"] is None else r["delta"] for r in rows]
    assert deltas == sorted(deltas)
    assert deltas[0] < -0.2  # the planted regressions come first


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        (ItemQuery(tag="returns"), lambda b: "returns" in b["tags"]),
        (
            ItemQuery(metric="contains", status="fail"),
            lambda b: b["metrics"]["contains"][1] == "fail",
        ),
        (ItemQuery(status="fail"), lambda b: any(c[1] == "fail" for c in b["metrics"].values())),
        (ItemQuery(flaky=True), lambda b: b["flaky"]),
        (ItemQuery(search="NUMBER 17 "), lambda b: "number 17 " in b["input"].lower()),
        (ItemQuery(tag="ret%"), lambda b: False),  # LIKE wildcards are escaped
    ],
)
def test_filters_match_a_python_filter(history: History, query: ItemQuery, keep: object) -> None:
    run_id = history.runs("support")[-1].run_id
    everything = _all_pages(history, run_id, ItemQuery(), limit=500)
    expected = sorted(b["seq"] for b in everything if keep(b))  # type: ignore[operator]
    got = _all_pages(history, run_id, query, limit=11)
    assert sorted(b["seq"] for b in got) == expected


def test_deltas_are_against_the_gating_baseline(tmp_path: Path) -> None:
    hist = History(tmp_path / "h.sqlite")
    first = make_run(20, seed=1)
    second = make_run(20, seed=1, started="2026-12-02T00:00:00+00:00", shift={"billing": 0.2})
    run_id = hist.record(second, baseline=baseline_doc(first))
    rows = {r["id"]: r for r in hist.briefs(run_id)}
    base = first.item_scores("faithfulness")
    cur = second.item_scores("faithfulness")
    for item, brief in rows.items():
        assert brief["delta"] == pytest.approx(min(cur[item] - base[item], 0.0), abs=1e-4)
    assert hist.run(run_id).baseline["means"]["faithfulness"] == pytest.approx(
        first.metrics[0].mean, abs=1e-6
    )


def test_recording_the_same_run_twice_replaces_it(tmp_path: Path) -> None:
    hist = History(tmp_path / "h.sqlite")
    run = make_run(10)
    assert hist.record(run) == hist.record(run) == run_id_of(run)
    assert len(hist.runs()) == 1 and len(hist.rows(run_id_of(run))) == 10


def test_runs_with_the_same_contents_but_their_own_ids_are_two_runs(tmp_path: Path) -> None:
    # Two quick runs can share their start and finish second, wall time (ms) and item count:
    # a contents hash made them one run, the second replacing the first.
    hist = History(tmp_path / "h.sqlite")
    run = make_run(10)
    first, second = (run.model_copy(update={"run_id": c * 16}) for c in "ab")
    assert (hist.record(first), hist.record(second)) == ("a" * 16, "b" * 16)
    assert len(hist.runs()) == 2
    assert run_id_of(run) not in {"a" * 16, "b" * 16}  # older results: their contents' hash


def test_import_folder_indexes_results_not_yet_known(tmp_path: Path) -> None:
    from llmops.evals.report import write_outputs

    state = tmp_path / "state"
    paths = write_outputs(make_run(12), state, history=False)
    (state / "evals" / "support" / "junk").mkdir(parents=True)
    (state / "evals" / "support" / "junk" / "results.json").write_text("{not json")
    hist = History.for_state(state)
    assert hist.runs() == []
    assert hist.import_folder(state / "evals") == 1
    assert hist.import_folder(state / "evals") == 0
    assert hist.runs()[0].results_path == str(paths.results)


def test_eval_outputs_append_to_the_history(tmp_path: Path) -> None:
    from llmops.evals.report import write_outputs

    state = tmp_path / "state"
    write_outputs(make_run(5, seed=1), state)
    write_outputs(make_run(5, seed=2, started="2026-12-05T00:00:00+00:00"), state)
    runs = History.for_state(state).runs("support")
    assert len(runs) == 2 and all(r.results_path for r in runs)


def test_mlflow_runs_are_imported_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops.config import load_settings
    from llmops.evals.report import write_outputs
    from llmops.evals.tracking import log_to_mlflow

    monkeypatch.chdir(tmp_path)  # MLflow's sqlite store puts artifacts under ./mlruns
    (tmp_path / "llmops.yaml").write_text("project: t\n")
    settings = load_settings(tmp_path)
    run = make_run(6)
    paths = write_outputs(run, tmp_path / "elsewhere", history=False)
    mlflow_id = log_to_mlflow(run, paths, settings)
    hist = History(tmp_path / "h.sqlite")
    assert hist.import_mlflow(settings) == 1
    assert hist.import_mlflow(settings) == 0
    (info,) = hist.runs()
    assert info.source == "mlflow" and info.mlflow_run_id == mlflow_id
    assert info.run_id == run_id_of(run) and len(hist.rows(info.run_id)) == 6


def test_runs_started_in_the_same_second_keep_the_order_they_were_recorded_in(
    tmp_path: Path,
) -> None:
    """Two CLI runs a second apart share ``started_at`` (second resolution): the later one must
    still be the newest, not whichever id sorts last."""
    hist = History(tmp_path / "h.sqlite")
    recorded = [hist.record(make_run(6, seed=seed)) for seed in (5, 1, 4, 2, 3, 9, 7)]
    assert len(set(recorded)) == 7
    assert [r.run_id for r in hist.runs()] == recorded
