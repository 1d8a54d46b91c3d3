"""Runs as the dashboard reads them: a summary per run, a brief and a full row per item.

``index_run`` splits a ``RunResult`` (redacted) into what the history stores; ``RunSource`` is
what the dashboard reads from — the history database, or ``MemoryRuns`` for the single-run
report of a run that is in no history.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from llmops.dashboard.redact import Redactor
from llmops.evals.records import RunResult

__all__ = [
    "IndexedRun",
    "ItemQuery",
    "MemoryRuns",
    "RunInfo",
    "RunSource",
    "index_run",
    "item_deltas",
    "run_id_of",
]

BRIEF_CHARS = 160
#: The summary fields a ``RunInfo`` takes from the ``RunResult`` as they are.
_AS_RUN = set(
    "suite suite_file started_at finished_at passed partial items repeats wall_s overall_score".split()
)


class RunInfo(BaseModel):
    """One run as the dashboard lists it (no rows)."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    suite: str
    suite_file: str | None = None
    started_at: str
    finished_at: str | None = None
    passed: bool | None = None
    partial: bool = False
    items: int = 0
    repeats: int = 1
    wall_s: float = 0.0
    overall_score: float | None = None
    lineage: dict[str, Any] = Field(default_factory=dict)
    judge: dict[str, Any] = Field(default_factory=dict)
    metrics: list[dict[str, Any]] = Field(default_factory=list)
    calibration: dict[str, Any] = Field(default_factory=dict)
    confusion: dict[str, list[list[int]]] = Field(default_factory=dict)
    gate: dict[str, Any] = Field(default_factory=dict)
    calls: dict[str, Any] = Field(default_factory=dict)
    flaky: list[dict[str, Any]] = Field(
        default_factory=list, description="the first 100 flaky items (id, metric, verdicts)"
    )
    flaky_count: int = 0
    tags: list[str] = Field(default_factory=list)
    slices: dict[str, Any] | None = Field(
        None, description="the suite's slice breakdown and slice-gate checks (evals SliceReport)"
    )
    baseline: dict[str, Any] | None = None
    results_path: str | None = None
    source: str = "folder"
    mlflow_run_id: str | None = None


@dataclass(frozen=True)
class ItemQuery:
    """Filters on a run's items (all optional)."""

    tag: str | None = None
    metric: str | None = None
    status: str | None = None  # pass / fail / error / n/a / skipped (with or without a metric)
    flaky: bool = False
    search: str | None = None


def run_id_of(run: RunResult) -> str:
    """Return a stable id for a run (the same from the results folder and from MLflow): the id
    the runner gave it, or for older results a hash of what identifies them."""
    if run.run_id:
        return run.run_id
    key = json.dumps(
        [
            run.suite,
            run.started_at,
            run.finished_at,
            run.lineage.dataset_hash,
            run.lineage.git_commit,
            run.items,
            run.wall_s,
        ]
    )
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def item_deltas(run: RunResult, baseline: dict[str, Any] | None) -> dict[str, float]:
    """Return item id -> its largest drop (most negative score change) against ``baseline``."""
    if not baseline:
        return {}
    worst: dict[str, float] = {}
    for name, base in (baseline.get("metrics") or {}).items():
        base_items = base.get("items") or {}
        for item, score in run.item_scores(name).items():
            if item in base_items:
                delta = score - float(base_items[item])
                worst[item] = min(delta, worst.get(item, delta))
    return worst


def confusion(run: RunResult) -> dict[str, list[list[int]]]:
    """Return per judge metric with human labels ``[[tp, fn], [fp, tn]]`` (human = truth)."""
    from llmops.evals.calibration import confusion_cells, labelled_verdicts

    out: dict[str, list[list[int]]] = {}
    for name, (judged, truth) in labelled_verdicts(run).items():
        tp, fn, fp, tn = confusion_cells(judged, truth)
        out[name] = [[tp, fn], [fp, tn]]
    return out


def _brief(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= BRIEF_CHARS else text[: BRIEF_CHARS - 1] + "…"


@dataclass
class IndexedRun:
    """A run split the way the history stores it: summary, item briefs, full rows, scores."""

    info: RunInfo
    briefs: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    texts: list[str]  # each row as redacted JSON (what the history stores)
    deltas: dict[str, float]
    scores: list[tuple[int, str, float | None, str]]  # seq, metric, score, status
    search: list[str]


def index_run(
    run: RunResult,
    *,
    redactor: Redactor,
    baseline: dict[str, Any] | None = None,
    results_path: Path | None = None,
    source: str = "folder",
    mlflow_run_id: str | None = None,
) -> IndexedRun:
    """Return ``run`` redacted and split into what the history stores."""
    clean = redactor.clean
    deltas = item_deltas(run, baseline)
    flaky = {f.id for f in run.flaky}
    info = RunInfo(
        run_id=run_id_of(run),
        **run.model_dump(include=_AS_RUN),
        lineage=clean(run.lineage.model_dump(mode="json", exclude_none=True)),
        judge=clean(run.judge),
        metrics=clean([m.model_dump(mode="json") for m in run.metrics]),
        calibration=clean(run.calibration),
        confusion=confusion(run),
        gate=clean(run.gate),
        calls={**run.calls.model_dump(mode="json"), "hit_rate": run.calls.hit_rate},
        flaky=[f.model_dump(mode="json") for f in run.flaky[:100]],
        flaky_count=len(run.flaky),
        tags=sorted({t for row in run.rows for t in row.tags}),
        slices=clean(run.slices.model_dump(mode="json")) if run.slices is not None else None,
        baseline=clean(_baseline_facts(baseline)),
        results_path=str(results_path) if results_path else None,
        source=source,
        mlflow_run_id=mlflow_run_id,
    )
    out = IndexedRun(info=info, briefs=[], rows=[], texts=[], deltas=deltas, scores=[], search=[])
    for seq, row in enumerate(run.rows):
        text = redactor.json_text(row.model_dump_json())
        data = json.loads(text)
        out.texts.append(text)
        delta = deltas.get(row.id)
        out.rows.append(data)
        out.briefs.append(
            {
                "seq": seq,
                "id": row.id,
                "repeat": row.repeat,
                "input": _brief(data["input"]),
                "answer": _brief(data["output"]["answer"]),
                "tags": row.tags,
                "delta": None if delta is None else round(delta, 4),
                "flaky": row.id in flaky,
                "error": bool(row.output.error),
                "metrics": {
                    name: [None if r.score is None else round(r.score, 4), r.status]
                    for name, r in row.metrics.items()
                },
            }
        )
        out.search.append(" ".join((row.id, data["input"], data["output"]["answer"])).lower())
        for name, result in row.metrics.items():
            out.scores.append((seq, name, result.score, result.status))
    return out


class RunSource(Protocol):
    """What the dashboard reads runs from: the history database, or runs held in memory."""

    redactor: Redactor

    def suites(self) -> list[str]: ...  # noqa: D102
    def runs(self, suite: str | None = None) -> list[RunInfo]: ...  # noqa: D102
    def run(self, run_id: str) -> RunInfo: ...  # noqa: D102
    def briefs(self, run_id: str) -> list[dict[str, Any]]: ...  # noqa: D102
    def item(self, run_id: str, seq: int) -> dict[str, Any] | None: ...  # noqa: D102
    def scores(self, run_id: str) -> dict[str, dict[str, float]]: ...  # noqa: D102


def _mean_scores(indexed: IndexedRun) -> dict[str, dict[str, float]]:
    sums: dict[str, dict[str, list[float]]] = {}
    for seq, metric, score, _status in indexed.scores:
        if score is not None:
            item = indexed.briefs[seq]["id"]
            sums.setdefault(metric, {}).setdefault(item, []).append(score)
    return {m: {i: sum(v) / len(v) for i, v in items.items()} for m, items in sums.items()}


class MemoryRuns:
    """Runs held in memory (the single-run report of a run not yet in any history)."""

    def __init__(self, runs: list[IndexedRun], *, redactor: Redactor) -> None:
        self.redactor = redactor
        self._runs = {r.info.run_id: r for r in runs}

    def suites(self) -> list[str]:
        """Return the suites held."""
        return sorted({r.info.suite for r in self._runs.values()})

    def runs(self, suite: str | None = None) -> list[RunInfo]:
        """Return runs oldest first."""
        found = [r.info for r in self._runs.values() if suite is None or r.info.suite == suite]
        return sorted(found, key=lambda r: (r.started_at, r.run_id))

    def run(self, run_id: str) -> RunInfo:
        """Return one run."""
        return self._runs[run_id].info

    def briefs(self, run_id: str) -> list[dict[str, Any]]:
        """Return every row's brief."""
        return self._runs[run_id].briefs

    def item(self, run_id: str, seq: int) -> dict[str, Any] | None:
        """Return one full row."""
        indexed = self._runs[run_id]
        if not 0 <= seq < len(indexed.rows):
            return None
        return {**indexed.rows[seq], "seq": seq, "delta": indexed.briefs[seq]["delta"]}

    def scores(self, run_id: str) -> dict[str, dict[str, float]]:
        """Return metric -> item -> mean score."""
        return _mean_scores(self._runs[run_id])


def _baseline_facts(baseline: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return what the dashboard shows of the baseline a run was gated on (no item scores)."""
    if not baseline:
        return None
    return {
        "created_at": baseline.get("created_at"),
        "lineage": baseline.get("lineage") or {},
        "means": {k: v.get("mean") for k, v in (baseline.get("metrics") or {}).items()},
    }
