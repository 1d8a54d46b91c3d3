"""Where a run's outputs go: ``<state>/evals/<suite>/<timestamp>/`` and the baseline file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmops.atomic import atomic_write_json, atomic_write_text
from llmops.evals.records import RunResult
from llmops.evals.report.html import to_html
from llmops.evals.report.junit import to_junit
from llmops.evals.report.markdown import to_markdown

__all__ = [
    "OutputPaths",
    "baseline_from_run",
    "record_history",
    "write_baseline",
    "write_outputs",
]


@dataclass(frozen=True)
class OutputPaths:
    """The files one run wrote."""

    folder: Path
    results: Path
    junit: Path
    markdown: Path
    html: Path


def write_outputs(
    run: RunResult,
    state: Path,
    *,
    out_dir: Path | None = None,
    step_summary: bool = True,
    history: bool = True,
) -> OutputPaths:
    """Write results.json, junit.xml, summary.md and report.html; append the run to the history
    (``<state>/evals/history.sqlite``) and the GitHub step summary."""
    if out_dir is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        out_dir = state / "evals" / run.suite / stamp
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = OutputPaths(
        folder=out_dir,
        results=out_dir / "results.json",
        junit=out_dir / "junit.xml",
        markdown=out_dir / "summary.md",
        html=out_dir / "report.html",
    )
    # Secrets (API keys, credentials in URLs, secret environment values) never reach a file.
    from llmops.dashboard.build import run_payload
    from llmops.dashboard.redact import Redactor

    redactor = Redactor()
    data = redactor.clean(run.model_dump(mode="json"))
    run = RunResult.model_validate(data)
    atomic_write_json(paths.results, data)
    atomic_write_text(paths.junit, to_junit(run))
    # One document for both views (the dashboard's single-run view and its Markdown view).
    payload = run_payload(run, redactor=redactor)
    summary = to_markdown(run, report_path=str(paths.html), payload=payload)
    atomic_write_text(paths.markdown, summary)
    atomic_write_text(paths.html, to_html(run, payload=payload))
    if history:
        record_history(run, state, results_path=paths.results)
    github = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary and github:
        with open(github, "a", encoding="utf-8") as fh:
            fh.write(summary + "\n")
    return paths


def record_history(run: RunResult, state: Path, *, results_path: Path | None = None) -> str:
    """Append ``run`` to the history the dashboard reads, with its per-item drops against the
    baseline its suite points at; return the run id."""
    from llmops.dashboard.history import History

    return History.for_state(state).record(
        run, results_path=results_path, baseline=_suite_baseline(run)
    )


def _suite_baseline(run: RunResult) -> dict[str, Any] | None:
    """Return the baseline the run was gated on (the file its suite points at), if any."""
    if not run.gate.get("baseline") or not run.suite_file:
        return None
    from llmops.errors import LLMOpsError
    from llmops.evals.runner import load_baseline
    from llmops.evals.suite import load_suite

    try:
        return load_baseline(load_suite(Path(run.suite_file)).baseline_path)
    except (LLMOpsError, OSError):
        return None


def baseline_from_run(run: RunResult) -> dict[str, Any]:
    """Return the baseline document: per metric the mean and every item's score."""
    return {
        "suite": run.suite,
        "created_at": run.finished_at or run.started_at,
        "lineage": run.lineage.model_dump(mode="json", exclude_none=True),
        "items": run.items,
        "repeats": run.repeats,
        "metrics": {
            m.name: {
                "mean": None if m.mean is None else round(m.mean, 6),
                "items": {k: round(v, 6) for k, v in sorted(run.item_scores(m.name).items())},
            }
            for m in run.metrics
            if m.mean is not None
        },
    }


def write_baseline(run: RunResult, path: Path) -> dict[str, Any]:
    """Write the baseline for ``run`` to ``path`` (to be committed) and return it."""
    if run.partial:
        from llmops.errors import StateError

        raise StateError("refusing to write a baseline from a partial run", hint="re-run the suite")
    data = baseline_from_run(run)
    atomic_write_json(path, data)
    return data
