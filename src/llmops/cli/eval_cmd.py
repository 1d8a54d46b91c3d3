"""`llmops eval`: Run eval suites and gate changes on them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmops.cli._common import JsonOpt, console, err_console, print_json, state

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.evals.records import RunResult
    from llmops.evals.suite import Suite

app = typer.Typer(help="Run eval suites and gate changes on them.", no_args_is_help=True)

SuitesArg = Annotated[
    list[Path] | None,
    typer.Argument(help="Suite files (default: every evals/*.yaml suite).", show_default=False),
]
# How a run makes its model calls: shared by `eval run` and `eval baseline`.
NoCacheOpt = Annotated[
    bool, typer.Option("--no-cache", help="Neither read nor write the model-call cache.")
]
RefreshOpt = Annotated[
    bool, typer.Option("--refresh", help="Ignore cached answers and overwrite them.")
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Run even above the suite's budget.")]
ConcurrencyOpt = Annotated[
    int | None, typer.Option("--concurrency", min=1, help="Parallel model calls.")
]


def _discover(settings: Settings, given: list[Path] | None) -> list[Suite]:
    from llmops.errors import NotFoundError
    from llmops.evals.suite import load_suite

    if given:
        return [load_suite(p, settings.root) for p in given]
    folder = settings.path("evals")
    files = sorted(p for p in folder.glob("*.yaml") if p.is_file()) if folder.is_dir() else []
    if not files:
        raise NotFoundError(
            f"no suites in {folder}", hint="create evals/<name>.yaml or pass a suite file"
        )
    return [load_suite(p, settings.root) for p in files]


def _print_summary(run: RunResult, report: str | None) -> None:
    from rich.table import Table

    out = console()
    table = Table(
        title=f"{run.suite}: {'PASSED' if run.passed else 'FAILED'}", title_justify="left"
    )
    for col in ("metric", "mean", "pass rate", "thr", "baseline", "Δ [CI]", "status"):
        table.add_column(
            col, justify="right" if col in ("mean", "pass rate", "thr", "baseline") else "left"
        )

    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    for m in run.metrics:
        ci = (
            f"{m.diff:+.3f} [{m.ci_low:+.3f}, {m.ci_high:+.3f}]"
            if m.diff is not None and m.ci_low is not None and m.ci_high is not None
            else "-"
        )
        table.add_row(
            m.name, f(m.mean), f(m.pass_rate), f"{m.threshold:g}", f(m.baseline_mean), ci, m.status
        )
    out.print(table)
    for m in run.metrics:
        if m.status != "pass":
            for reason in m.reasons:
                out.print(f"  {m.name}: {reason}", markup=False)
    from llmops.evals.slices import slice_lines

    for line in slice_lines(run):
        out.print(line, markup=False)
    for flaky in run.flaky[:10]:
        out.print(
            f"  flaky: {flaky.id} on {flaky.metric} ({' -> '.join(flaky.verdicts)}, flip rate {flaky.flip_rate:.0%})",
            markup=False,
        )
    for name, c in run.calibration.items():
        out.print(
            f"  calibration {name}: n={c.get('n')} accuracy={c.get('accuracy')} kappa={c.get('kappa')} "
            f"TPR={c.get('tpr')} TNR={c.get('tnr')}"
            + (f"  FAILED: {c['reason']}" if c.get("reason") else ""),
            markup=False,
        )
    for stale in run.gate.get("stale_indexes") or []:
        out.print(
            f"  stale index: '{stale['pipeline']}' serves {stale['served_version']}, built from "
            f"an older pipeline file; these results describe the old index",
            markup=False,
        )
    calls = run.calls
    out.print(
        f"{run.items} items x {run.repeats} repeat(s) in {run.wall_s:.1f} s; "
        f"{calls.model_calls} model call(s), cache hit rate {calls.hit_rate:.0%}, "
        f"{calls.retries} retr{'y' if calls.retries == 1 else 'ies'}",
        markup=False,
    )
    if report:
        out.print(f"report: {report}", markup=False)


@app.command("run")
def run(
    ctx: typer.Context,
    suites: SuitesArg = None,
    gate: Annotated[bool, typer.Option("--gate", help="Exit 1 when the gate fails.")] = False,
    allow_stale_index: Annotated[
        bool,
        typer.Option(
            "--allow-stale-index",
            help="Gate even when a served index was built from an older pipeline file.",
        ),
    ] = False,
    no_cache: NoCacheOpt = False,
    refresh: RefreshOpt = False,
    yes: YesOpt = False,
    repeats: Annotated[
        int | None, typer.Option("--repeats", min=1, help="Override the suite's repeats.")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Only the first N records.")
    ] = None,
    concurrency: ConcurrencyOpt = None,
    changed_since: Annotated[
        str | None,
        typer.Option(
            "--changed-since", help="Only suites whose inputs changed since this git ref."
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write outputs to this folder.")] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Also copy the JUnit XML here.")
    ] = None,
    mlflow: Annotated[bool, typer.Option("--mlflow", help="Log the run to MLflow.")] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
    ] = True,
    json_out: JsonOpt = False,
) -> None:
    """Run suites, print the summary table and the report path; with --gate, exit 0/1.

    A suite whose pipeline file changed since its index was built is run with a warning; with
    --gate it is refused (exit 1) before any model call unless --allow-stale-index.

    Examples:

        llmops eval run evals/python-docs.yaml --gate

        llmops eval run --changed-since origin/main --gate --junit junit.xml
    """
    import sys

    from llmops.atomic import atomic_write_text
    from llmops.evals.report import write_outputs
    from llmops.evals.runner import EvalRunner, Preflight, RunOptions, load_baseline

    settings = state(ctx).settings()
    chosen = _discover(settings, suites)
    if changed_since:
        from llmops.evals.changed import suites_changed_since

        hits = suites_changed_since(chosen, changed_since, settings)
        skipped = [s.suite_name for s in chosen if s not in [h[0] for h in hits]]
        for suite, changed in hits:
            rel = ", ".join(
                str(p.relative_to(settings.root)) if p.is_relative_to(settings.root) else str(p)
                for p in changed[:3]
            )
            err_console().print(f"{suite.suite_name}: changed ({rel})", markup=False)
        for name in skipped:
            err_console().print(f"{name}: unchanged since {changed_since}, skipped", markup=False)
        chosen = [h[0] for h in hits]

    def show_preflight(pre: Preflight) -> None:
        err_console().print(f"pre-flight: {pre.describe()}", markup=False)

    results: list[dict[str, Any]] = []
    all_passed = True
    for suite in chosen:
        options = RunOptions(
            use_cache=not no_cache,
            refresh=refresh,
            yes=yes,
            repeats=repeats,
            limit=limit,
            concurrency=concurrency,
            progress=progress and sys.stderr.isatty() and not json_out,
            on_preflight=show_preflight,
        )
        target = out / suite.suite_name if out and len(chosen) > 1 else out
        runner = EvalRunner(suite, settings, options)
        _check_stale(runner, gate=gate, allow=allow_stale_index)
        try:
            result = runner.run(load_baseline(suite.baseline_path))
        except KeyboardInterrupt:
            if runner.partial_result is not None:
                partial = write_outputs(runner.partial_result, settings.state_path, out_dir=target)
                err_console().print(
                    f"interrupted: {len(runner.partial_result.rows)} finished item(s) saved to "
                    f"{partial.results}; re-run to resume from the cache",
                    markup=False,
                )
            raise
        paths = write_outputs(result, settings.state_path, out_dir=target)
        if junit is not None:
            atomic_write_text(junit, paths.junit.read_text(encoding="utf-8"))
        mlflow_run = None
        if mlflow:
            from llmops.evals.tracking import log_to_mlflow

            mlflow_run = log_to_mlflow(result, paths, settings)
        all_passed = all_passed and bool(result.passed)
        if json_out:
            results.append(
                {
                    "suite": result.suite,
                    "passed": result.passed,
                    "overall_score": result.overall_score,
                    "metrics": [m.model_dump(mode="json") for m in result.metrics],
                    "calls": {**result.calls.model_dump(), "hit_rate": result.calls.hit_rate},
                    "results": str(paths.results),
                    "report": str(paths.html),
                    "junit": str(paths.junit),
                    "summary": str(paths.markdown),
                    "mlflow_run_id": mlflow_run,
                }
            )
        else:
            _print_summary(result, str(paths.html))
            if mlflow_run:
                console().print(f"mlflow run: {mlflow_run}", markup=False)
    if json_out:
        print_json({"passed": all_passed, "suites": results})
    elif not chosen:
        console().print("nothing to run", markup=False)
    if gate and not all_passed:
        raise typer.Exit(1)


def _check_stale(runner: Any, *, gate: bool, allow: bool) -> None:
    """Warn about indexes built from an older pipeline file; refuse to gate on them."""
    from llmops.errors import CheckFailedError

    stale = runner.stale_indexes()
    if not stale:
        return
    if gate and not allow:
        first = stale[0]
        raise CheckFailedError(
            f"refusing to gate suite '{runner.suite.suite_name}' on a stale index: "
            + first.describe(),
            file=first.file,
            hint=f"rebuild: llmops index run {first.pipeline}; or gate on the old index anyway: "
            "llmops eval run ... --gate --allow-stale-index",
        )
    for item in stale:
        err_console().print(f"warning: {item.describe()}", markup=False)


@app.command("baseline")
def baseline(
    ctx: typer.Context,
    suite_file: Annotated[Path, typer.Argument(help="The suite whose baseline to (re)write.")],
    from_results: Annotated[
        Path | None,
        typer.Option("--from", help="Use this results.json instead of running the suite."),
    ] = None,
    no_cache: NoCacheOpt = False,
    refresh: RefreshOpt = False,
    yes: YesOpt = False,
    concurrency: ConcurrencyOpt = None,
) -> None:
    """Write evals/baselines/<suite>.json from a fresh run (commit it to git).

    The run covers the whole suite as its file defines it (no --limit or --repeats: a baseline
    of a subset would gate on a subset); cached answers are reused unless --refresh/--no-cache.

    Examples:

        llmops eval baseline evals/python-docs.yaml --refresh
    """
    import json

    from llmops.errors import ConfigError
    from llmops.evals.records import RunResult
    from llmops.evals.report import write_baseline
    from llmops.evals.runner import EvalRunner, RunOptions
    from llmops.evals.suite import load_suite

    settings = state(ctx).settings()
    suite = load_suite(suite_file, settings.root)
    if from_results is not None:
        given = [f for f, on in (("--no-cache", no_cache), ("--refresh", refresh)) if on]
        if concurrency is not None:
            given.append("--concurrency")
        if given:
            raise ConfigError(
                f"{', '.join(given)}: only for a fresh run, not with --from {from_results}",
                hint="drop --from to run the suite, or drop the run options",
            )
        try:
            result = RunResult.model_validate(json.loads(from_results.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read results: {exc}", file=from_results) from None
    else:
        options = RunOptions(
            use_cache=not no_cache, refresh=refresh, yes=yes, concurrency=concurrency
        )
        runner = EvalRunner(suite, settings, options)
        _check_stale(runner, gate=False, allow=True)  # a baseline of a stale index: warn
        result = runner.run(None)
    data = write_baseline(result, suite.baseline_path)
    console().print(
        f"wrote {suite.baseline_path} ({len(dict(data['metrics']))} metrics, {result.items} items); commit it",
        markup=False,
    )


@app.command("list")
def list_(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """List the suites in evals/ with their dataset, target and metrics."""
    settings = state(ctx).settings()
    suites = _discover(settings, None)
    rows: list[dict[str, Any]] = [
        {
            "name": s.suite_name,
            "file": str(s.path),
            "dataset": [str(p) for p in s.dataset_files],
            "target": s.target.type,
            "metrics": [m.name for m in s.metrics],
            "baseline": s.baseline_path.is_file(),
        }
        for s in suites
    ]
    if json_out:
        print_json(rows)
        return
    for row in rows:
        console().print(
            f"{row['name']}: {row['target']} target, {len(row['metrics'])} metrics, "
            f"baseline {'yes' if row['baseline'] else 'no'} ({row['file']})",
            markup=False,
        )


@app.command("validate")
def validate(ctx: typer.Context, suites: SuitesArg = None) -> None:
    """Check suites and their golden sets (every bad record is listed)."""
    from llmops.evals.golden import load_golden_sets
    from llmops.evals.slices import check_dimensions

    settings = state(ctx).settings()
    for suite in _discover(settings, suites):
        golden = load_golden_sets(suite.dataset_files)
        check_dimensions(suite, golden)
        console().print(
            f"{suite.suite_name}: ok ({len(golden)} records, dataset {golden.content_hash[:12]})",
            markup=False,
        )
