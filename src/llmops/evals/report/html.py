"""The single-run HTML report: the dashboard's single-run view (one renderer, see
``llmops.dashboard``), self-contained — inline script and styles, no request leaves the file."""

from __future__ import annotations

from typing import Any

from llmops.evals.records import RunResult

__all__ = ["to_html"]


def to_html(run: RunResult, *, payload: dict[str, Any] | None = None) -> str:
    """Return the run as one self-contained HTML page."""
    from llmops.dashboard.build import run_payload
    from llmops.dashboard.html import render_html

    return render_html(payload if payload is not None else run_payload(run))
