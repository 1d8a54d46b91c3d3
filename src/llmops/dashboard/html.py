"""The HTML renderer: one page shell, one script, one stylesheet, for every view of the dashboard.

The static file inlines the document as JSON and forbids every network request in its Content
Security Policy (``connect-src 'none'``); the served page inlines the same document built from
the live stores and may fetch item pages from its own origin only. Charts are inline SVG drawn
by ~40 lines of our own script: no plotting library (plotly.js is ~4.6 MB minified, Vega +
Vega-Lite + vega-embed ~1 MB), so the file stays small and opens without parsing a library.
"""

from __future__ import annotations

import functools
import html
import json
import math
from importlib import resources
from typing import Any

__all__ = ["render_html", "to_json_script"]

SHELL = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src {connect}; form-action 'self'">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
<style>{css}</style></head>
<body><header><h1 id="title">{title}</h1><nav id="tabs"></nav><span class="muted" id="generated"></span></header>
<main id="app"><noscript>This dashboard draws its views with JavaScript.</noscript></main>
<script type="application/json" id="llmops-data">{data}</script>
<script>{js}</script>
</body></html>
"""


@functools.lru_cache(maxsize=4)
def _asset(name: str) -> str:
    return resources.files("llmops.dashboard").joinpath("static", name).read_text(encoding="utf-8")


def to_json_script(payload: dict[str, Any]) -> str:
    """Return ``payload`` as JSON safe inside a ``<script>`` element (no ``<``, ``>`` or ``&``)."""
    try:
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a NaN or infinity somewhere: JSON has no such number, show it as missing
        text = json.dumps(_finite(payload), ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def render_html(payload: dict[str, Any], *, live: bool = False) -> str:
    """Return the dashboard page for ``payload`` (self-contained unless ``live``)."""
    return SHELL.format(
        title=html.escape(str(payload["meta"].get("title", "llmops dashboard"))),
        css=_asset("dashboard.css"),
        js=_asset("dashboard.js"),
        data=to_json_script(payload),
        connect="'self'" if live else "'none'",
    )
