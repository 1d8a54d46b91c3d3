"""Build the dashboard document from the history: one JSON payload every view renders from.

The same payload feeds the static HTML file, the served page (whose item pages then come from
the API) and the Markdown summary. Its size is bounded: the items of each suite's newest run are
embedded as compact columns (scores, statuses, tags, a short input), and only the
``full_items`` most regressed (then failing) items carry everything — answer, contexts, reasons,
the judge's reasoning and lineage.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.dashboard.compare import Side, compare, slice_intervals
from llmops.dashboard.redact import Redactor
from llmops.dashboard.runs import MemoryRuns, RunInfo, RunSource, index_run

if TYPE_CHECKING:
    from llmops.dashboard.pages import Page
    from llmops.evals.records import RunResult

__all__ = ["BuildOptions", "build_payload", "item_columns", "run_payload"]

STATUS_CODE = {"pass": "p", "fail": "f", "n/a": "n", "skipped": "s", "error": "e"}
INPUT_CHARS = 100


@dataclass
class BuildOptions:
    """What to put in the dashboard."""

    suite: str | None = None
    since: str | None = None
    baseline: str | None = None  # a run id, or None for the committed baseline
    candidate: str | None = None  # a run id, or None for each suite's newest run
    full_items: int = 200
    embed_items: bool = True  # False for the served page: items come from its API
    title: str = "llmops eval dashboard"
    root: Path | None = None  # the git checkout --since refs resolve in


def _since_filter(since: str | None, root: Path | None) -> Any:
    """Return a predicate on RunInfo for ``--since`` (a date, a duration like 7d, or a git ref)."""
    if not since:
        return lambda _run: True
    text = since.strip()
    units = {"h": 3600, "d": 86400, "w": 604800}
    if text[:-1].isdigit() and text[-1:] in units:
        cutoff = datetime.now(UTC) - timedelta(seconds=int(text[:-1]) * units[text[-1]])
        stamp = cutoff.isoformat(timespec="seconds")
        return lambda run: run.started_at >= stamp
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        pass
    else:
        stamp = (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat(timespec="seconds")
        return lambda run: run.started_at >= stamp
    commits = _commits_since(text, root)
    return lambda run: (run.lineage.get("git_commit") or "") in commits


def _commits_since(ref: str, root: Path | None) -> set[str]:
    from llmops.errors import UsageError

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=False
        )

    head = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if head.returncode != 0:
        raise UsageError(
            f"--since {ref!r} is neither a date (2026-12-01), a duration (7d, 24h) nor a git ref",
            hint="pass a commit, branch or tag of this repository, or a date",
        )
    listed = git("rev-list", f"{ref}..HEAD")
    return {head.stdout.strip(), *listed.stdout.split()}


def _lean(run: RunInfo) -> dict[str, Any]:
    data = run.model_dump(mode="json")
    data["metrics"] = [
        {
            k: m.get(k)
            for k in (
                "name",
                "mean",
                "pass_rate",
                "threshold",
                "min",
                "status",
                "diff",
                "ci_low",
                "ci_high",
                "baseline_mean",
                "paired_items",
                "reasons",
                "counts",
            )
        }
        for m in run.metrics
    ]
    return data


def item_columns(briefs: list[dict[str, Any]], metrics: list[str]) -> dict[str, Any]:
    """Return briefs as compact columns (what the static file embeds for every item)."""
    tags = sorted({t for b in briefs for t in b["tags"]})
    index = {t: i for i, t in enumerate(tags)}
    cols: dict[str, Any] = {
        "tags": tags,
        "seq": [b["seq"] for b in briefs],
        "id": [b["id"] for b in briefs],
        "repeat": [b["repeat"] for b in briefs],
        "input": [b["input"][:INPUT_CHARS] for b in briefs],
        "tag": [[index[t] for t in b["tags"]] for b in briefs],
        "delta": [b["delta"] for b in briefs],
        "flaky": [1 if b["flaky"] else 0 for b in briefs],
        "error": [1 if b["error"] else 0 for b in briefs],
        "score": {},
        "status": {},
    }
    for name in metrics:
        cells = [b["metrics"].get(name) for b in briefs]
        cols["score"][name] = [None if c is None else c[0] for c in cells]
        cols["status"][name] = "".join(
            "-" if c is None else STATUS_CODE.get(c[1], "-") for c in cells
        )
    return cols


def _full_rows(
    history: RunSource, run_id: str, briefs: list[dict[str, Any]], limit: int
) -> dict[str, Any]:
    """Return seq -> full row for the most regressed items, then failing/erroring/flaky ones."""

    def badness(b: dict[str, Any]) -> tuple[float, int, int]:
        failing = any(c[1] in ("fail", "error") for c in b["metrics"].values())
        delta = b["delta"] if b["delta"] is not None else 9.0
        return (delta, 0 if failing or b["flaky"] or b["error"] else 1, b["seq"])

    chosen = sorted(briefs, key=badness)[:limit]
    out: dict[str, Any] = {}
    for b in chosen:
        row = history.item(run_id, b["seq"])
        if row is not None:
            out[str(b["seq"])] = row
    return out


def _committed_baseline(run: RunInfo) -> dict[str, Any] | None:
    """Return the committed baseline file the run's suite points at now (None when absent)."""
    if not run.suite_file:
        return None
    from llmops.errors import LLMOpsError
    from llmops.evals.runner import load_baseline
    from llmops.evals.suite import load_suite

    try:
        suite = load_suite(Path(run.suite_file))
        return load_baseline(suite.baseline_path)
    except (LLMOpsError, OSError):
        return None


def _side_of_run(history: RunSource, run: RunInfo, label: str) -> Side:
    return Side(
        label=label,
        suite=run.suite,
        lineage=run.lineage,
        scores=history.scores(run.run_id),
        run_id=run.run_id,
        means={m["name"]: m.get("mean") for m in run.metrics},
    )


def _side_of_baseline(suite: str, baseline: dict[str, Any]) -> Side:
    metrics = baseline.get("metrics") or {}
    return Side(
        label=f"committed baseline ({baseline.get('created_at', '?')})",
        suite=str(baseline.get("suite") or suite),
        lineage=baseline.get("lineage") or {},
        scores={
            k: {i: float(s) for i, s in (v.get("items") or {}).items()} for k, v in metrics.items()
        },
        means={k: v.get("mean") for k, v in metrics.items()},
    )


def _calibration(runs: list[RunInfo]) -> list[dict[str, Any]]:
    out = []
    for run in runs:
        for metric, figures in run.calibration.items():
            out.append(
                {
                    "run_id": run.run_id,
                    "started_at": run.started_at,
                    "metric": metric,
                    **{
                        k: figures.get(k)
                        for k in ("n", "accuracy", "kappa", "tpr", "tnr", "status")
                    },
                    "confusion": run.confusion.get(metric),
                }
            )
    return out


def _suite_doc(
    history: RunSource, runs: list[RunInfo], options: BuildOptions, redact: Any
) -> dict[str, Any]:
    newest = runs[-1]
    if options.candidate:
        newest = next((r for r in runs if r.run_id == options.candidate), newest)
    names = [m["name"] for m in newest.metrics]
    committed = _committed_baseline(newest)
    cand_side = _side_of_run(history, newest, f"run {newest.run_id[:8]}")
    comparisons = []
    base_scores: dict[str, dict[str, float]] | None = None
    base_side: Side | None
    if options.baseline:
        base_run = history.run(options.baseline)
        base_side = _side_of_run(history, base_run, f"run {base_run.run_id[:8]}")
    elif committed is not None:
        base_side = _side_of_baseline(newest.suite, committed)
    else:
        earlier = [r for r in runs if r.started_at < newest.started_at]
        base_side = (
            _side_of_run(history, earlier[-1], f"run {earlier[-1].run_id[:8]}") if earlier else None
        )
    if base_side is not None:
        doc = compare(base_side, cand_side, gate=newest.gate, top=options.full_items)
        comparisons.append(doc)
        if not doc["refused"]:
            base_scores = base_side.scores
    # Also against the previous run, when that is a different pair: drift between two runs.
    earlier = [r for r in runs if r.started_at < newest.started_at]
    if earlier and (base_side is None or base_side.run_id != earlier[-1].run_id):
        prev = earlier[-1]
        comparisons.append(
            compare(
                _side_of_run(history, prev, f"run {prev.run_id[:8]}"),
                cand_side,
                gate=newest.gate,
                top=options.full_items,
            )
        )
    briefs = history.briefs(newest.run_id)
    item_tags: dict[str, list[str]] = {}
    for b in briefs:
        item_tags.setdefault(b["id"], b["tags"])
    items: dict[str, Any] = {"run": newest.run_id, "total": len(briefs), "cols": None, "full": {}}
    if options.embed_items:
        items["cols"] = item_columns(briefs, names)
        items["full"] = _full_rows(history, newest.run_id, briefs, options.full_items)
    thresholds = {m["name"]: m.get("threshold") for m in newest.metrics}
    return {
        "name": newest.suite,
        "metrics": names,
        "thresholds": thresholds,
        "baseline": redact(
            {
                "created_at": committed.get("created_at"),
                "lineage": committed.get("lineage"),
                "means": {k: v.get("mean") for k, v in (committed.get("metrics") or {}).items()},
            }
        )
        if committed
        else None,
        "runs": [r.run_id for r in runs],
        "items_run": newest.run_id,
        "items": items,
        "comparisons": comparisons,
        "slices": slice_intervals(item_tags, cand_side.scores, base_scores),
        "calibration": _calibration(runs),
    }


def build_payload(
    history: RunSource,
    options: BuildOptions | None = None,
    *,
    pages: list[Page] | None = None,
) -> dict[str, Any]:
    """Return the dashboard document for the runs in ``history`` chosen by ``options``."""
    options = options or BuildOptions()
    keep = _since_filter(options.since, options.root)
    suites = [options.suite] if options.suite else history.suites()
    redact = history.redactor.clean
    payload: dict[str, Any] = {
        "meta": {
            "title": options.title,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "mode": "static",
            "since": options.since,
            "full_items": options.full_items,
        },
        "runs": {},
        "suites": [],
        "pages": [],
    }
    for name in suites:
        runs = [r for r in history.runs(name) if keep(r)]
        if not runs:
            continue
        for run in runs:
            payload["runs"][run.run_id] = _lean(run)
        payload["suites"].append(_suite_doc(history, runs, options, redact))
    for page in pages or []:
        payload["pages"].append({"id": page.id, "title": page.title, "panels": page.panels()})
    return redact(payload)  # type: ignore[no-any-return]


def run_payload(
    run: RunResult, *, full_items: int = 200, redactor: Redactor | None = None
) -> dict[str, Any]:
    """Return the single-run view of ``run``: its metrics, items, slices and calibration."""
    redactor = redactor or Redactor()
    source = MemoryRuns([index_run(run, redactor=redactor)], redactor=redactor)
    payload = build_payload(source, BuildOptions(suite=run.suite, full_items=full_items))
    payload["meta"]["single_run"] = source.runs()[0].run_id
    payload["meta"]["title"] = f"llmops eval: {run.suite}"
    return payload
