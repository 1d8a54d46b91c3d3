"""The monitor page: the monitors' own signals (``llmops.monitor``) drawn as dashboard panels.

``MonitorData`` is what the page needs for one window: hallucination rates with intervals (the
online evaluation's reweighted scores, judge rates Rogan-Gladen corrected when calibrated),
drift tests with p-values, the top-1 retrieval score distribution, latency, guard blocks and
canary arms. ``MonitorProvider`` is its one implementation: it asks ``llmops.monitor``'s
``Evaluator`` for the signal groups, which read the rollups written with each batch of traces
and the scored sample (never the window's raw rows), so a first request costs what a later one
does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.monitor.signals import SignalValue
    from llmops.traces.store import TraceStore

__all__ = ["GROUPS", "MonitorData", "MonitorPage", "MonitorProvider", "create_monitor_page"]

#: the monitor signal groups the page shows (``llmops.monitor.signals.GROUPS``' values)
GROUPS = ("operational", "hallucination", "retrieval", "answers", "query_drift", "release")
DRIFT_SIGNALS = (
    "query_drift",
    "top1_drift",
    "topk_drift",
    "source_mix_drift",
    "answer_length_drift",
    "abstention_drift",
    "refusal_drift",
)


@dataclass
class Signals:
    """Everything the monitor page shows for one window."""

    window_s: float
    total: int = 0
    hallucination: list[dict[str, Any]] = field(default_factory=list)
    hallucination_note: str = ""
    drift: list[dict[str, Any]] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)
    retrieval: list[dict[str, Any]] = field(default_factory=list)
    latency: list[dict[str, Any]] = field(default_factory=list)
    guards: list[dict[str, Any]] = field(default_factory=list)
    arms: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unscored: list[str] = field(default_factory=list)
    seconds: float = 0.0


class MonitorData(Protocol):
    """A source of monitor signals."""

    def signals(self, window_s: float) -> Signals:
        """Return the signals of the last ``window_s`` seconds."""
        ...


def _interval(s: SignalValue) -> dict[str, Any]:
    return {"value": s.value, "low": s.low, "high": s.high}


@dataclass
class MonitorProvider:
    """Monitor signals from ``llmops.monitor`` over one trace store (SQLite or PostgreSQL)."""

    store: TraceStore
    settings: Settings
    clock: Callable[[], float] = field(default=time.time, kw_only=True)

    @staticmethod
    def preload() -> None:
        """Import what a page needs (the monitors' signal groups, numpy) now, so the gateway's
        start pays for it once and the first request does not."""
        import numpy  # noqa: F401 - the drift and interval code import it lazily

        import llmops.monitor.groups  # noqa: F401

    def signals(self, window_s: float) -> Signals:
        """Return the signals of the last ``window_s`` seconds (windows align to minutes)."""
        from llmops.monitor.queries import Window, routes_in
        from llmops.monitor.report import prefetch_query_drift
        from llmops.monitor.signals import Evaluator

        started = time.perf_counter()
        window = Window.last(window_s, self.clock())
        ev = Evaluator(self.store, self.settings, clock=self.clock)
        out = Signals(window_s=window_s)
        routes = routes_in(self.store, window)
        prefetch_query_drift(ev, routes, window)  # two routes' drift tests at a time
        if not routes:
            out.notes.append("no traffic in the window: no data (nothing is shown as 0)")
        for route in routes:
            found = {g: ev.group(g, route, window) for g in GROUPS}
            out.total += int(found["operational"]["details"]["requests"])
            _hallucination(out, route, found["hallucination"])
            _drift(out, route, found)
            _retrieval(out, route, found["retrieval"], ev, window)
            _operations(out, route, found["operational"], found["release"])
        if not out.hallucination:
            out.hallucination_note = (
                "; ".join(out.unscored)
                or "no sampled answers in this window (no rate from nothing)"
            )
        out.seconds = time.perf_counter() - started
        return out


def _hallucination(out: Signals, route: str, group: dict[str, Any]) -> None:
    sig = group["signals"]
    details = group["details"]
    for name, what in (("unsupported_rate", "unsupported"), ("judge_unfaithful_rate", "judge")):
        s: SignalValue = sig[name]
        if s.status != "ok":
            out.unscored.append(f"{what} ({route}): {s.message}")
            continue
        correction = s.evidence.get("correction")
        out.hallucination.append(
            {
                "label": f"{route} · {'unsupported (groundedness)' if what == 'unsupported' else 'judge: unfaithful'}",
                "route": route,
                "signal": name,
                **_interval(s),
                "n": s.n,
                "message": s.message,
                "correction": correction,
            }
        )
    for v in details.get("by_version") or []:
        rate = v.get("unsupported_rate")
        if rate and v.get("prompt"):
            out.hallucination.append(
                {
                    "label": f"{route} · {v['prompt']}",
                    "route": route,
                    "signal": "unsupported_rate",
                    "value": rate["value"],
                    "low": rate["low"],
                    "high": rate["high"],
                    "n": rate.get("n", v["scored"]),
                    "message": f"{v['scored']} of {v['sampled']} sampled answers scored",
                    "correction": None,
                }
            )


def _drift(out: Signals, route: str, found: dict[str, Any]) -> None:
    from llmops.monitor.signals import GROUPS as SIGNAL_GROUPS

    for name in DRIFT_SIGNALS:
        s: SignalValue = found[SIGNAL_GROUPS[name]]["signals"][name]
        ev = s.evidence
        tests = [k for k, v in ev.items() if isinstance(v, dict) and "p_value" in v]
        test = ", ".join(tests) or ("MMD, permutation" if name == "query_drift" else "–")
        out.drift.append(
            {
                "route": route,
                "signal": name,
                "test": test,
                "n_ref": ev.get("n_ref"),
                "n_cur": ev.get("n_cur", s.n),
                "statistic": s.value,
                "p_value": s.p_value,
                "status": s.status,
                "verdict": s.message,
            }
        )


def _retrieval(out: Signals, route: str, group: dict[str, Any], ev: Any, window: Any) -> None:
    from llmops.monitor.groups import totals
    from llmops.traces.rollup import BINS

    sig = group["signals"]
    tot = totals(ev, route, window)
    if tot is not None and group["details"].get("retrievals"):
        counts = tot.bins["top1"]
        if not out.scores:
            edges = BINS["top1"].edges
            labels = [f"<{edges[0]:.2f}"] + [f"{e:.2f}" for e in edges[:-1]] + [f"≥{edges[-1]:.2f}"]
            out.scores = [{"label": label, "value": 0.0} for label in labels]
        for bar, n in zip(out.scores, counts, strict=True):
            bar["value"] += n
    for name in ("empty_retrieval_rate", "low_score_rate", "out_of_coverage_rate"):
        s: SignalValue = sig[name]
        out.retrieval.append({"route": route, "signal": name, **_interval(s), "message": s.message})


def _operations(out: Signals, route: str, ops: dict[str, Any], release: dict[str, Any]) -> None:
    sig = ops["signals"]
    out.latency.append(
        {
            "route": route,
            "n": ops["details"]["requests"],
            **{
                q: None if sig[f"latency_{q}"].value is None else sig[f"latency_{q}"].value * 1000
                for q in ("p50", "p95", "p99")
            },
        }
    )
    block: SignalValue = sig["guard_block_rate"]
    if block.status == "ok":
        blocked = round((block.value or 0.0) * (block.n or 0.0))
        out.guards.append(
            {"route": route, "blocked": blocked, "n": int(block.n or 0), **_interval(block)}
        )
    rel: SignalValue = release["signals"]["release"]
    if rel.status != "ok":  # fewer than two arms: nothing to compare
        return
    comparisons = rel.evidence.get("comparisons", {})
    from llmops.monitor.stats import wilson

    for arm, a in release["details"]["arms"].items():
        rate = wilson(a["errors"], a["requests"])
        verdict = comparisons.get(arm, {}).get("recommendation")
        if arm == release["details"].get("baseline"):
            verdict = "baseline"
        unsupported = a.get("unsupported_rate")
        out.arms.append(
            {
                "route": route,
                "arm": arm,
                "n": a["requests"],
                "error_rate": rate.value if rate else None,
                "low": rate.low if rate else None,
                "high": rate.high if rate else None,
                "p95": a["p95_ms"][0] if a.get("p95_ms") else None,
                "unsupported": unsupported,
                "verdict": verdict,
                "message": rel.message,
            }
        )


def _fmt_ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms"


def _fmt_rate(row: dict[str, Any]) -> str:
    if row.get("value") is None:
        return "–"
    return f"{row['value']:.1%} [{row['low']:.1%}, {row['high']:.1%}]"


def _fmt_p(value: float | None) -> str:
    return "–" if value is None else f"{value:.2g}"


def _fmt_stat(value: float | None) -> Any:
    return "–" if value is None else round(value, 4)


class MonitorPage:
    """The dashboard's monitor page over any ``MonitorData``."""

    id = "monitor"
    title = "Monitor"

    def __init__(self, data: MonitorData, *, window_s: float = 86400.0) -> None:
        self.data = data
        self.window_s = window_s

    def panels(self) -> list[dict[str, Any]]:
        """Return the monitor panels for the window."""
        s = self.data.signals(self.window_s)
        window = f"last {self.window_s / 3600:g} h, {s.total:,} requests"
        return [
            {
                "id": "hallucination",
                "title": "Hallucination rate (reweighted sample, 95% interval)",
                "wide": True,
                "kind": "intervals",
                "min": 0,
                "max": 1,
                "note": window + "; per route and prompt version",
                "rows": [
                    {"label": r["label"], "value": r["value"], "low": r["low"], "high": r["high"]}
                    for r in s.hallucination
                ],
                "table": {
                    "columns": ["route", "signal", "rate [95%]", "scored", "how"],
                    "rows": [
                        [
                            r["route"],
                            r["label"].split(" · ", 1)[1],
                            _fmt_rate(r),
                            int(r["n"] or 0),
                            r["correction"] or r["message"],
                        ]
                        for r in s.hallucination
                    ],
                },
                "empty": s.hallucination_note,
            },
            {
                "id": "drift",
                "title": "Drift tests (window vs reference)",
                "wide": True,
                "kind": "table",
                "note": window,
                "rows": [],
                "table": {
                    "columns": [
                        "route",
                        "signal",
                        "test",
                        "n ref",
                        "n now",
                        "statistic",
                        "p-value",
                        "verdict",
                    ],
                    "rows": [
                        [
                            d["route"],
                            d["signal"],
                            d["test"],
                            "–" if d["n_ref"] is None else int(d["n_ref"]),
                            "–" if d["n_cur"] is None else int(d["n_cur"]),
                            _fmt_stat(d["statistic"]),
                            _fmt_p(d["p_value"]),
                            d["verdict"],
                        ]
                        for d in s.drift
                    ],
                },  # fmt: skip
                "empty": "; ".join(s.notes) or "no traffic in this window",
            },
            {
                "id": "retrieval",
                "title": "Top-1 retrieval score distribution",
                "kind": "bars",
                "note": window,
                "rows": s.scores if any(b["value"] for b in s.scores) else [],
                "table": {
                    "columns": ["route", "signal", "rate [95%]", "detail"],
                    "rows": [
                        [r["route"], r["signal"], _fmt_rate(r), r["message"]] for r in s.retrieval
                    ],
                },
                "empty": "no retrieval in this window",
            },
            {
                "id": "latency",
                "title": "Latency by route",
                "kind": "table",
                "note": "percentiles from the rollups' latency histograms",
                "rows": [],
                "table": {
                    "columns": ["route", "requests", "p50", "p95", "p99"],
                    "rows": [
                        [
                            r["route"],
                            r["n"],
                            _fmt_ms(r["p50"]),
                            _fmt_ms(r["p95"]),
                            _fmt_ms(r["p99"]),
                        ]
                        for r in s.latency
                    ],
                },  # fmt: skip
                "empty": "no traffic in this window",
            },
            {
                "id": "guards",
                "title": "Guard blocks (share of requests, Wilson 95%)",
                "kind": "intervals",
                "min": 0,
                "rows": [
                    {"label": g["route"], "value": g["value"], "low": g["low"], "high": g["high"]}
                    for g in s.guards
                ],
                "table": {
                    "columns": ["route", "blocked", "requests", "rate [95%]"],
                    "rows": [[g["route"], g["blocked"], g["n"], _fmt_rate(g)] for g in s.guards],
                },
                "empty": "no traffic in this window",
            },
            {
                "id": "arms",
                "title": "Canary / A-B arms",
                "wide": True,
                "kind": "intervals",
                "min": 0,
                "rows": [
                    {
                        "label": f"{a['route']} · {a['arm']}",
                        "value": a["error_rate"],
                        "low": a["low"],
                        "high": a["high"],
                    }
                    for a in s.arms
                    if a["error_rate"] is not None
                ],
                "note": "error rate per arm (Wilson 95%); the release monitor's recommendation",
                "table": {
                    "columns": [
                        "route",
                        "arm",
                        "requests",
                        "error rate",
                        "p95",
                        "unsupported",
                        "verdict",
                    ],
                    "rows": [
                        [
                            a["route"],
                            a["arm"],
                            a["n"],
                            "–" if a["error_rate"] is None else round(a["error_rate"], 4),
                            _fmt_ms(a["p95"]),
                            _fmt_rate(a["unsupported"]) if a["unsupported"] else "–",
                            a["verdict"] or "–",
                        ]
                        for a in s.arms
                    ],
                },  # fmt: skip
                "empty": "no release arms in this window",
            },
        ]


def create_monitor_page(settings: Settings, options: dict[str, Any]) -> MonitorPage | None:
    """Return the monitor page over the project's trace store (None when it has no traces file)."""
    url = settings.trace_url
    if url.startswith("sqlite:///"):
        from pathlib import Path

        if not Path(url[len("sqlite:///") :]).is_file():
            return None
    from llmops.traces import TraceStore

    provider = MonitorProvider(TraceStore(url), settings)
    return MonitorPage(provider, window_s=float(options.get("window_s", 86400.0)))
