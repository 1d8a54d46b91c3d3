"""Read the metric names a Grafana dashboard's PromQL queries use."""

from __future__ import annotations

import re
from typing import Any

_FUNCTIONS = {
    "sum", "avg", "min", "max", "count", "rate", "irate", "increase", "histogram_quantile",
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "time", "clamp_min", "clamp_max", "abs", "topk", "bottomk", "label_replace", "delta",
}  # fmt: skip
_LABELS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")


def exprs(dashboard: dict[str, Any]) -> list[str]:
    """Return every query expression of every panel (rows and nested panels included)."""
    out: list[str] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            out.extend(t["expr"] for t in panel.get("targets", []) if t.get("expr"))
            walk(panel.get("panels", []))

    walk(dashboard.get("panels", []))
    return out


def metric_names(dashboard: dict[str, Any]) -> set[str]:
    """Return the metric names the dashboard's queries read."""
    names: set[str] = set()
    for expr in exprs(dashboard):
        bare = _GROUPING.sub(" ", _RANGE.sub(" ", _LABELS.sub(" ", expr)))
        for name in _NAME.findall(bare):
            if name not in _FUNCTIONS and not re.fullmatch(r"\d+", name):
                names.add(name)
    return names
