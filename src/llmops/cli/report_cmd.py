"""`llmops report`: Build eval report dashboards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmops.cli._common import JsonOpt, console, print_json, state

app = typer.Typer(help="Build eval report dashboards.", no_args_is_help=True)

SuiteOpt = Annotated[
    str | None, typer.Option("--suite", help="Only this suite (default: every suite).")
]


@app.command("build")
def build(
    ctx: typer.Context,
    suite: SuiteOpt = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only runs since a git ref, a date (2026-12-01) or 7d/24h."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder to write (default <state>/dashboard).")
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline", help="Compare against this run id (default: the committed baseline)."
        ),
    ] = None,
    candidate: Annotated[
        str | None, typer.Option("--candidate", help="The run to inspect (default: the newest).")
    ] = None,
    full_items: Annotated[
        int,
        typer.Option("--full-items", min=0, help="Items embedded in full (most regressed first)."),
    ] = 200,
    mlflow: Annotated[
        bool, typer.Option("--mlflow", help="Also import eval runs logged to MLflow.")
    ] = False,
    pages: Annotated[
        list[str] | None, typer.Option("--page", help="Add a page (e.g. monitor).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Write a self-contained HTML dashboard (index.html) and its Markdown summary (summary.md)."""
    from llmops.dashboard import BuildOptions, History, build_payload, write_dashboard
    from llmops.dashboard.pages import create_pages
    from llmops.errors import NotFoundError
    from llmops.suggest import suggestion

    settings = state(ctx).settings()
    history = History.for_state(settings.state_path)
    imported = history.import_folder(settings.state_path / "evals")
    if mlflow:
        imported += history.import_mlflow(settings)
    known = history.suites()
    if suite is not None and suite not in known:
        raise NotFoundError(
            f"no runs of suite '{suite}' in the history" + suggestion(suite, known),
            hint="suites with runs: " + (", ".join(known) or "none — run `llmops eval run` first"),
        )
    payload = build_payload(
        history,
        BuildOptions(
            suite=suite,
            since=since,
            baseline=baseline,
            candidate=candidate,
            full_items=full_items,
            root=settings.root,
        ),
        pages=create_pages(list(pages or []), settings),
    )
    target = out or settings.state_path / "dashboard"
    paths = write_dashboard(payload, target)
    runs = len(payload["runs"])
    if json_out:
        print_json(
            {
                "html": str(paths.html),
                "summary": str(paths.markdown),
                "bytes": paths.bytes,
                "suites": [s["name"] for s in payload["suites"]],
                "runs": runs,
                "imported": imported,
            }
        )
        return
    console().print(
        f"wrote {paths.html} ({paths.bytes / 1e6:.2f} MB, {len(payload['suites'])} suite(s), "
        f"{runs} run(s)) and {paths.markdown}",
        markup=False,
    )


@app.command("runs")
def runs(
    ctx: typer.Context,
    suite: SuiteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List the runs in the history with their lineage."""
    from llmops.dashboard import History

    settings = state(ctx).settings()
    history = History.for_state(settings.state_path)
    history.import_folder(settings.state_path / "evals")
    found = history.runs(suite)
    if json_out:
        print_json([r.model_dump(mode="json", exclude={"metrics", "flaky"}) for r in found])
        return
    for r in found:
        lin = r.lineage
        prompt = lin.get("prompt") or {}
        console().print(
            f"{r.run_id}  {r.suite}  {r.started_at}  {'pass' if r.passed else 'FAIL'}  "
            f"prompt {prompt.get('name', '-')}@{prompt.get('version', '-')}  "
            f"dataset {(lin.get('dataset_hash') or '-')[:12]}  commit {(lin.get('git_commit') or '-')[:9]}",
            markup=False,
        )
