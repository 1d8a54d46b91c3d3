"""`llmops monitor`: Watch production traces for hallucination and retrieval drift."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from llmops.cli._common import JsonOpt, TracesOpt, console, err_console, print_json, state

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.traces.store import TraceStore

app = typer.Typer(
    help="Watch production traces for hallucination and retrieval drift.", no_args_is_help=True
)

RouteOpt = Annotated[str | None, typer.Option("--route", "-r", help="Only this route.")]


def _duration(text: str, option: str) -> float:
    from llmops.errors import UsageError
    from llmops.monitor.settings import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


@contextmanager
def _opened(ctx: typer.Context, traces: str | None) -> Iterator[tuple[Settings, TraceStore]]:
    """Open the trace store (--traces, else the project's) and close it when the block ends."""
    from llmops.traces.locate import project_trace_url
    from llmops.traces.store import TraceStore

    settings = state(ctx).settings()
    store = TraceStore(traces or project_trace_url(settings))
    try:
        yield settings, store
    finally:
        store.close()


@app.command("report")
def report(
    ctx: typer.Context,
    window: Annotated[str, typer.Option("--window", "-w", help="e.g. 1h, 24h, 7d.")] = "24h",
    route: RouteOpt = None,
    traces: TracesOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show every monitor signal over a window: quality, retrieval, drift, operations."""
    from llmops.monitor.queries import Window
    from llmops.monitor.render import print_report
    from llmops.monitor.report import build_report

    span = _duration(window, "--window")
    with _opened(ctx, traces) as (settings, store):
        result = build_report(store, settings, Window.last(span), route=route)
    if json_out:
        print_json(result.as_dict())
    else:
        print_report(console(), result)


@app.command("watch")
def watch(
    ctx: typer.Context,
    interval: Annotated[
        str | None, typer.Option("--interval", help="Time between evaluations (monitor.interval).")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Evaluate once and exit.")] = False,
    traces: TracesOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Score sampled traces, evaluate the alert rules and publish gauges, until Ctrl-C."""
    import threading

    from llmops.monitor.render import print_tick
    from llmops.monitor.watch import Tick, WatchOptions, stop_on_sigint
    from llmops.monitor.watch import watch as run_watch

    every = _duration(interval, "--interval") if interval else None
    stop = threading.Event()
    out = console()

    def on_tick(tick: Tick) -> None:
        if json_out:
            print_json(
                {"at": tick.at, "outcomes": [o.as_dict() for o in tick.outcomes],
                 "scoring": tick.scoring.__dict__ if tick.scoring else None}
            )  # fmt: skip
        else:
            print_tick(out, tick)

    def notice() -> None:
        err_console().print("stopping after this evaluation (Ctrl-C again to force)")

    options = WatchOptions(interval=every, max_ticks=1 if once else None)
    with stop_on_sigint(stop, notice), _opened(ctx, traces) as (settings, store):
        ticks = run_watch(store, settings, stop=stop, on_tick=on_tick, options=options)
    if not once:
        err_console().print(f"watch stopped cleanly after {ticks} evaluation(s)")


@app.command("score")
def score(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many traces.")] = 500,
    traces: TracesOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Score the sampled traces waiting for it (groundedness; the judge when configured)."""
    from llmops.monitor.scoring import Scorer

    with _opened(ctx, traces) as (settings, store):
        status = Scorer(store, settings).score_pending(limit)
    if json_out:
        print_json(status.__dict__)
        return
    console().print(
        f"embedded {status.embedded} queries, scored {status.scored} answers, judged "
        f"{status.judged} (judge {status.judge_state})"
        + (f"; last error: {status.last_error}" if status.last_error else "")
    )


@app.command("coverage")
def coverage(
    ctx: typer.Context,
    pipeline: Annotated[str, typer.Argument(help="A pipeline name (rag_pipelines/NAME.yaml).")],
    version: Annotated[str | None, typer.Option("--version", help="Default: served.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Compute the out-of-coverage threshold of an index version (needs the vector store)."""
    from llmops.monitor.coverage import compute_coverage

    result = compute_coverage(state(ctx).settings(), pipeline, version)
    if json_out:
        print_json(result)
        return
    console().print(
        f"{pipeline}@{result['index_version']}: a query is out of coverage below top-1 score "
        f"{result['threshold']:.3f} (corpus nearest-neighbour distance p95 {result['d95']:.3f}, "
        f"{result['sampled']} of {result['chunks']} chunks)"
    )


@app.command("alerts")
def alerts(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="e.g. 24h, 7d.")] = "24h",
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    traces: TracesOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List fired alerts and the actions taken, newest first, with their reasons."""
    import time
    from dataclasses import asdict

    from llmops.monitor.journal import Journal

    span = _duration(since, "--since")
    with _opened(ctx, traces) as (_settings, store):
        entries = Journal(store).entries(since=time.time() - span, limit=limit)
    if json_out:
        print_json([asdict(e) for e in entries])
        return
    out = console()
    if not entries:
        out.print(f"no alerts or actions in the last {since}")
    for e in entries:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e.ts))
        what = f"{e.kind} {e.rule}" + (f" → {e.action}" if e.action else "")
        out.print(f"{stamp} {what} [{e.route}] {e.status}: {e.reason or ''}", markup=False)
