"""The Markdown summary for pull requests (``$GITHUB_STEP_SUMMARY`` when set): a view of the
dashboard document (``llmops.dashboard.render_markdown``)."""

from __future__ import annotations

from typing import Any

from llmops.evals.records import RunResult

__all__ = ["to_markdown"]


def to_markdown(
    run: RunResult, *, report_path: str | None = None, payload: dict[str, Any] | None = None
) -> str:
    """Return the run's summary as Markdown."""
    from llmops.dashboard.build import run_payload
    from llmops.dashboard.markdown import render_markdown

    return render_markdown(
        payload if payload is not None else run_payload(run), report_path=report_path
    )
