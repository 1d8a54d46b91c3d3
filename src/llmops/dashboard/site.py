"""Writing the static dashboard: ``index.html`` (self-contained) and ``summary.md`` side by side."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops.atomic import atomic_write_text
from llmops.dashboard.html import render_html
from llmops.dashboard.markdown import render_markdown

__all__ = ["SitePaths", "write_dashboard"]


@dataclass(frozen=True)
class SitePaths:
    """The files a dashboard build wrote."""

    html: Path
    markdown: Path
    bytes: int


def write_dashboard(payload: dict[str, Any], out_dir: Path) -> SitePaths:
    """Write the dashboard for ``payload`` into ``out_dir`` (each file atomically)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    page = render_html(payload)
    html_path = out_dir / "index.html"
    md_path = out_dir / "summary.md"
    atomic_write_text(md_path, render_markdown(payload, report_path=str(html_path)))
    atomic_write_text(html_path, page)
    return SitePaths(html=html_path, markdown=md_path, bytes=len(page.encode("utf-8")))
