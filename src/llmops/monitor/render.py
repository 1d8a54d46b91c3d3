"""Rich tables for ``llmops monitor report`` and ``watch`` (the CLI's presentation)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from llmops.monitor.report import MonitorReport
    from llmops.monitor.signals import SignalValue
    from llmops.monitor.watch import Tick

__all__ = ["print_report", "print_tick"]

_SECTIONS = {
    "Operations": ("error_rate", "fallback_rate", "guard_block_rate", "latency_p50",
                   "latency_p95", "latency_p99"),
    "Hallucination": ("unsupported_rate", "judge_unfaithful_rate", "scoring_backlog"),
    "Retrieval": ("empty_retrieval_rate", "low_score_rate", "out_of_coverage_rate",
                  "top1_drift", "topk_drift", "source_mix_drift", "stale_sources",
                  "embedding_mismatch"),
    "Queries": ("query_drift",),
    "Answers": ("abstention_rate", "refusal_rate", "answer_length_drift",
                "abstention_drift", "refusal_drift"),
    "Release": ("release",),
}  # fmt: skip
_STYLE = {
    "ok": "green",
    "no_drift": "green",
    "drift": "bold red",
    "no_data": "dim",
    "too_few": "yellow",
    "not_scored": "yellow",
    "unknown": "yellow",
}


def _stamp(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def _status(s: SignalValue) -> str:
    style = _STYLE.get(s.status, "yellow")
    return f"[{style}]{s.status.replace('_', ' ')}[/]"


def print_report(console: Console, report: MonitorReport) -> None:
    """Print the report as one table per section per route."""
    from rich.table import Table

    w = report.window
    console.print(
        f"[bold]llmops monitor[/] {_stamp(w.start)} → {_stamp(w.end)} "
        f"({(w.end - w.start) / 3600:.1f} h) · store {report.store}"
    )
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")
    for route in report.routes:
        ops = route.details.get("operational", {})
        console.print(
            f"\n[bold cyan]route {route.route}[/] · {ops.get('requests', 0)} requests, "
            f"{ops.get('tokens_per_request') or '-'} tokens/request"
        )
        for title, names in _SECTIONS.items():
            table = Table(title=title, title_justify="left", show_edge=False, expand=False)
            table.add_column("signal", no_wrap=True)
            table.add_column("status", no_wrap=True)
            table.add_column("what the data says", overflow="fold")
            for name in names:
                s = route.signal(name)
                table.add_row(name, _status(s), s.message)
            console.print(table)
        drift = route.signal("query_drift")
        for topic in drift.evidence.get("topics") or []:
            console.print(
                f"  topic moved: {topic['ref_share']:.0%} → {topic['cur_share']:.0%} "
                f"e.g. {topic['example']!r} (nearest reference: {topic['nearest_reference']!r})"
            )
        versions = route.details.get("hallucination", {}).get("by_version") or []
        if len(versions) > 1:
            _versions(console, versions)
    console.print(f"\n[dim]built in {report.seconds:.2f} s[/]")


def _versions(console: Console, versions: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title="Unsupported answers by prompt version", title_justify="left")
    for col in ("prompt", "sampled", "scored", "rate [95% CI]"):
        table.add_column(col)
    for v in versions:
        rate = v["unsupported_rate"]
        shown = f"{rate['value']:.1%} [{rate['low']:.1%}, {rate['high']:.1%}]" if rate else "-"
        table.add_row(str(v["prompt"]), str(v["sampled"]), str(v["scored"]), shown)
    console.print(table)


def print_tick(console: Console, tick: Tick) -> None:
    """Print one watch evaluation: scoring, then each rule's verdict and actions."""
    s = tick.scoring
    head = f"[bold]{_stamp(tick.at)}[/]"
    if s is not None:
        head += (
            f" · embedded {s.embedded}, scored {s.scored}, judged {s.judged}"
            + (f", judge {s.judge_state}" if s.judge_state not in ("ok", "off") else "")
            + (f" [yellow]({s.last_error})[/]" if s.last_error else "")
        )
    console.print(head + f" · {tick.seconds:.2f} s")
    for o in tick.outcomes:
        mark = "[bold red]FIRING[/]" if o.fired else "[green]ok[/]"
        console.print(f"  {mark} {o.rule} on {o.route}: {o.bad} of {len(o.windows)} windows bad")
        for a in o.actions:
            console.print(f"    → {a.action} ({a.type}): {a.status} {a.reason}")
