"""Eval report dashboards: the run history, one renderer for the static file, the served page
and the Markdown summary, and pluggable pages (monitors).

``History.for_state(state)`` holds every eval run; ``build_payload(history)`` makes the document
every view renders from; ``render_html`` and ``render_markdown`` are its two views;
``write_dashboard`` writes the static file.
"""

from llmops.dashboard.build import BuildOptions, build_payload, run_payload
from llmops.dashboard.compare import compare, incomparable
from llmops.dashboard.history import History
from llmops.dashboard.html import render_html
from llmops.dashboard.markdown import render_markdown
from llmops.dashboard.pages import Page, register_page
from llmops.dashboard.redact import Redactor
from llmops.dashboard.runs import ItemQuery, RunInfo, RunSource
from llmops.dashboard.site import write_dashboard

__all__ = [
    "BuildOptions",
    "History",
    "ItemQuery",
    "Page",
    "Redactor",
    "RunInfo",
    "RunSource",
    "build_payload",
    "compare",
    "incomparable",
    "register_page",
    "render_html",
    "render_markdown",
    "run_payload",
    "write_dashboard",
]
