"""`llmops model`: Train, register, promote and serve classic ML models on MLflow."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from llmops.cli._common import JsonOpt, TracesOpt, console, print_json, state

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.mlmodels.spec import ModelSpec

app = typer.Typer(
    help="Train, register, promote and serve classic ML models on MLflow.", no_args_is_help=True
)

F = TypeVar("F", bound=Callable[..., Any])


def _mlflow_errors(fn: F) -> F:
    """Turn an unexpected MLflow failure into one error line naming the store, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from llmops.errors import UpstreamError

        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if type(exc).__module__.startswith("mlflow"):
                uri = state(kwargs["ctx"]).settings().mlflow_tracking_uri
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise UpstreamError(
                    f"MLflow ({uri}) failed: {first}",
                    provider="mlflow",
                    hint="check the tracking server and its logs, or run with --debug",
                ) from exc
            raise

    return wrapper  # type: ignore[return-value]


SpecArg = Annotated[str, typer.Argument(help="A spec file (models/NAME.yaml) or a model name.")]
VersionOpt = Annotated[
    str | None, typer.Option("--version", help="A registered version number of the model.")
]


def _quiet_mlflow() -> None:
    """Keep MLflow's progress bars and INFO chatter out of the command's output."""
    import logging
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # With a tracking server MLflow writes run links to stdout, which would break --json.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    import mlflow  # noqa: F401 - importing mlflow configures its loggers; quieten them after

    logging.getLogger("mlflow").setLevel(logging.WARNING)


def _spec(ctx: typer.Context, name: str) -> tuple[Settings, ModelSpec]:
    from llmops.mlmodels.spec import find_spec

    _quiet_mlflow()
    settings = state(ctx).settings()
    return settings, find_spec(name, settings.path("models"))


@app.command("train")
@_mlflow_errors
def train(
    ctx: typer.Context,
    spec_ref: SpecArg,
    register: Annotated[
        bool, typer.Option("--register/--no-register", help="Register as challenger if it passes.")
    ] = True,
    force: Annotated[
        bool,
        typer.Option("--force", help="Train even when a version has the same data and spec."),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Validate the data, train, evaluate, check fairness, explain, and track the run in MLflow."""
    from llmops.errors import CheckFailedError
    from llmops.mlmodels.training import TrainOptions
    from llmops.mlmodels.training import train as run_training

    settings, spec = _spec(ctx, spec_ref)
    result = run_training(spec, settings, options=TrainOptions(register=register, force=force))
    if json_out:
        print_json({"model": spec.name, **result.to_dict()})
    elif result.unchanged_since is not None:
        console().print(
            f"unchanged: {spec.name} v{result.unchanged_since} was trained on the same data "
            f"(dataset {result.dataset_hash[:12]}) with the same spec; no new version "
            "(--force to train anyway)"
        )
    else:
        _print_training(spec.name, result)
    if result.threshold_failures:
        raise CheckFailedError(
            f"{spec.name} missed its thresholds; the run is recorded but not registered",
            problems=result.threshold_failures,
        )


def _print_training(name: str, result: Any) -> None:
    out = console()
    out.print(
        f"run {result.run_id}: {result.rows} rows, dataset {result.dataset_hash[:12]}, "
        f"held-out rows {(result.holdout_hash or '')[:12]}"
    )
    if result.trials:
        out.print(f"search: {len(result.trials)} trials (nested runs); best {result.params}")
    for metric, value in result.metrics.items():
        out.print(f"  {metric:<10} {value:.4f}")
    if result.fairness is not None:
        for attribute in result.fairness.attributes:
            groups = ", ".join(
                f"{g.group} n={g.rows} sel={g.selection_rate:.2f}" for g in attribute.groups
            )
            out.print(f"fairness {attribute.attribute}: {groups}")
            for m in attribute.measures:
                mark = "BROKEN" if m.broken else "ok" if m.bound is not None else ""
                out.print(f"  {m.describe()} {mark}".rstrip(), markup=False)
            if attribute.note:
                out.print(f"  {attribute.note}")
        if not result.fairness.passed:
            out.print("fairness: a bound is broken; the promotion gate will refuse this version")
    if result.explanation is not None:
        report = result.explanation
        top = ", ".join(f"{f.feature} {f.mean:.3f}" for f in report.permutation[:3])
        out.print(f"explanation: permutation importance ({report.metric}) {top}")
        if report.shap is not None:
            shap = ", ".join(f"{f.feature} {f.mean:.3f}" for f in report.shap[:3])
            out.print(f"  mean |SHAP| ({report.shap_output}) {shap}", markup=False)
        else:
            out.print(f"  SHAP not computed: {report.shap_note}", markup=False)
    if result.version:
        out.print(f"registered {name} v{result.version} as challenger")


@app.command("validate")
@_mlflow_errors
def validate(
    ctx: typer.Context,
    spec_ref: SpecArg,
    data: Annotated[
        Path | None, typer.Option("--data", help="Check this CSV/Parquet instead of the dataset.")
    ] = None,
) -> None:
    """Check the spec and its data (schema, types, nulls, ranges, categories, champion stats)."""
    from llmops.mlmodels import registry
    from llmops.mlmodels.data import feature_columns, load_dataset, load_table
    from llmops.mlmodels.tracking import connect
    from llmops.mlmodels.validation import Columns, check_frame

    settings, spec = _spec(ctx, spec_ref)
    frame = load_table(data) if data else load_dataset(spec)
    numeric, categorical = feature_columns(spec, frame)
    reference = registry.champion_profile(connect(settings), spec.name)
    check_frame(
        frame, Columns(numeric, categorical, spec.target, spec.task), spec.validation,
        source=str(data or spec.dataset.path or spec.dataset.sklearn), reference=reference,
    )  # fmt: skip
    against = " and the champion's profile" if reference else ""
    console().print(f"ok: {len(frame)} rows match the spec{against}")


@app.command("register")
@_mlflow_errors
def register(
    ctx: typer.Context,
    spec_ref: SpecArg,
    run: Annotated[str, typer.Option("--run", help="The MLflow run id to register.")],
) -> None:
    """Register a training run's model as a new version with the challenger alias."""
    from llmops.errors import NotFoundError
    from llmops.mlmodels import registry
    from llmops.mlmodels.tracking import connect

    settings, spec = _spec(ctx, spec_ref)
    client = connect(settings)
    try:
        found = client.get_run(run)
    except Exception:  # noqa: BLE001 - MLflow raises several types for unknown ids
        raise NotFoundError(
            f"no MLflow run '{run}'", hint="see the run id printed by train"
        ) from None
    uri = found.data.tags.get("llmops.model_uri")
    if uri is None:
        raise NotFoundError(f"run '{run}' has no model logged by llmops model train")
    version = registry.register(client, spec.name, run, uri)
    console().print(f"registered {spec.name} v{version} as challenger")


@app.command("promote")
@_mlflow_errors
def promote(
    ctx: typer.Context,
    spec_ref: SpecArg,
    version: VersionOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Make the challenger champion if it beats the champion by the configured margin.

    With --version, that version is gated instead of the one with the challenger alias.
    """
    from dataclasses import asdict

    from llmops.errors import CheckFailedError
    from llmops.mlmodels import registry
    from llmops.mlmodels.tracking import connect

    settings, spec = _spec(ctx, spec_ref)
    result = registry.promote(connect(settings), spec, version)
    if json_out:
        print_json(asdict(result))
    if not result.passed:
        raise CheckFailedError(
            f"promotion of {spec.name} v{result.challenger} refused: {result.reason}",
            hint="the comparison is recorded on the version (llmops.gate.* tags)",
        )
    if not json_out:
        console().print(
            f"{spec.name} v{result.challenger} is champion ({result.reason})", markup=False
        )


@app.command("rollback")
@_mlflow_errors
def rollback(ctx: typer.Context, spec_ref: SpecArg) -> None:
    """Point the champion alias back at the previous champion."""
    from llmops.mlmodels import registry
    from llmops.mlmodels.tracking import connect

    settings, spec = _spec(ctx, spec_ref)
    old, new = registry.rollback(connect(settings), spec.name)
    console().print(f"{spec.name}: champion v{old} -> v{new}")


@app.command("card")
@_mlflow_errors
def card(
    ctx: typer.Context,
    spec_ref: SpecArg,
    version: VersionOpt = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file.")] = None,
) -> None:
    """Print the model card (Markdown): intended use, data, metrics, limits, lineage.

    Without --version: the champion's card (else the newest version's).
    """
    import sys

    from llmops.atomic import atomic_write_text
    from llmops.mlmodels.card import model_card
    from llmops.mlmodels.tracking import connect

    settings, spec = _spec(ctx, spec_ref)
    text = model_card(connect(settings), spec, version)
    if out is not None:
        atomic_write_text(out, text)
        console().print(f"wrote {out}")
    else:
        sys.stdout.write(text)


@app.command("show")
@_mlflow_errors
def show(ctx: typer.Context, spec_ref: SpecArg, json_out: JsonOpt = False) -> None:
    """List registered versions with their aliases, metrics and gate results."""
    from llmops.mlmodels.tracking import connect

    settings, spec = _spec(ctx, spec_ref)
    client = connect(settings)
    rows: list[dict[str, Any]] = []
    for mv in sorted(
        client.search_model_versions(f"name='{spec.name}'"), key=lambda v: int(v.version)
    ):
        run = client.get_run(mv.run_id)
        mv = client.get_model_version(spec.name, mv.version)  # search results omit aliases
        rows.append({
            "version": str(mv.version), "aliases": list(mv.aliases or []), "run_id": mv.run_id,
            "metrics": run.data.metrics, "gate": (mv.tags or {}).get("llmops.gate.result"),
            "trigger": run.data.tags.get("llmops.trigger", "manual"),
        })  # fmt: skip
    if json_out:
        print_json({"model": spec.name, "versions": rows})
        return
    out = console()
    if not rows:
        out.print(f"{spec.name}: no registered versions")
    for row in rows:
        metrics = " ".join(f"{k}={v:.4f}" for k, v in sorted(row["metrics"].items()))
        aliases = ",".join(row["aliases"]) or "-"
        out.print(f"v{row['version']:<3} {aliases:<20} {metrics}  gate={row['gate'] or '-'}")


@app.command("drift")
@_mlflow_errors
def drift(
    ctx: typer.Context,
    spec_ref: SpecArg,
    batch: Annotated[
        Path | None,
        typer.Option(
            "--batch", help="CSV/Parquet to check (default: inputs logged by the gateway)."
        ),
    ] = None,
    retrain: Annotated[
        bool | None,
        typer.Option("--retrain/--no-retrain", help="Override monitor.retrain.enabled."),
    ] = None,
    traces: TracesOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Measure drift against the champion's training profile; retrain and gate when it fires.

    Exits 1 when the drift rule fires (whatever retraining did), 0 otherwise.
    """
    from llmops.mlmodels.data import load_table
    from llmops.mlmodels.monitor import run_drift_rule

    settings, spec = _spec(ctx, spec_ref)
    frame = load_table(batch) if batch is not None else None
    result = run_drift_rule(
        spec,
        settings,
        batch=frame,
        source=str(batch) if batch else None,
        retrain=retrain,
        trace_url=traces,
    )
    report = result.report
    if json_out:
        print_json(result.to_dict())
    else:
        out = console()
        out.print(
            f"{spec.name} v{result.champion} vs {result.source}: {report.rows} rows, "
            f"overall PSI {report.overall_psi:.3f}; {report.reason}"
        )
        for f in sorted(report.features, key=lambda f: -f.psi)[:10]:
            mark = "DRIFT" if f.drifted else "ok"
            out.print(f"  {mark:<5} {f.feature:<28} psi={f.psi:.3f} {f.test} p={f.p_value:.2g}")
        if result.retrained is not None:
            r = result.retrained
            out.print(f"retrained: run {r.run_id} v{r.version or '-'} {r.metrics}")
        if result.promotion is not None:
            word = "promoted" if result.promotion.passed else "not promoted"
            out.print(f"{word}: {result.promotion.reason}")
        for note in result.notes:
            out.print(f"note: {note}")
    if report.fired:
        raise typer.Exit(1)


ModelRef = Annotated[
    str,
    typer.Argument(
        help="NAME, NAME@alias (champion, challenger) or NAME@VERSION; default @champion."
    ),
]


@app.command("explain")
@_mlflow_errors
def explain(
    ctx: typer.Context,
    model_ref: ModelRef,
    row: Annotated[
        str,
        typer.Option(
            "--row",
            help="A JSON object (column -> value), or N: the version's N-th held-out row.",
        ),
    ],
    top: Annotated[int, typer.Option("--top", min=1, max=50, help="Contributions shown.")] = 8,
    json_out: JsonOpt = False,
) -> None:
    """Explain one prediction: base value plus each column's SHAP contribution."""
    import json

    from llmops.errors import NotFoundError, UsageError
    from llmops.mlmodels.explain import RowExplanation
    from llmops.mlmodels.registry import get_alias, load_holdout
    from llmops.mlmodels.serving import InputError, PredictService

    name, _, alias = model_ref.partition("@")
    settings, spec = _spec(ctx, name)
    service = PredictService(settings)
    alias = alias or "champion"
    if alias.isdigit():
        version = alias
        try:
            service.client.get_model_version(spec.name, version)
        except Exception:  # noqa: BLE001 - MLflow raises several types for unknown versions
            raise NotFoundError(
                f"model '{spec.name}' has no version {version}",
                hint=f"list versions with: llmops model show {spec.name}",
            ) from None
    else:
        found = get_alias(service.client, spec.name, alias)
        if found is None:
            raise NotFoundError(
                f"model '{spec.name}' has no version with the alias '{alias}'",
                hint=f"list versions with: llmops model show {spec.name}",
            )
        version = str(found.version)
    _, profile = service.model(spec.name, version)
    features = [c.name for c in profile.features]
    if row.strip().lstrip("-").isdigit():
        mv = service.client.get_model_version(spec.name, version)
        holdout = load_holdout(service.client, mv.run_id)
        index = int(row)
        if not 0 <= index < len(holdout):
            raise UsageError(
                f"--row {index} is out of range: v{version} has {len(holdout)} held-out rows "
                f"(0-{len(holdout) - 1})"
            )
        record = {k: _plain(v) for k, v in holdout.iloc[index][features].items()}
        actual = _plain(holdout.iloc[index][spec.target])
    else:
        try:
            record = json.loads(row)
        except ValueError as exc:
            raise UsageError(f"--row is neither a row number nor JSON: {exc}") from None
        if not isinstance(record, dict):
            raise UsageError("--row must be a JSON object (column -> value) or a row number")
        actual = None
    try:
        [explained] = service.explain(spec.name, version, [record], top)
    except InputError as exc:
        raise UsageError(exc.message.replace("inputs[0]", "--row")) from None
    if json_out:
        print_json({"model": spec.name, "version": version, "input": record,
                    "actual": actual, **explained})  # fmt: skip
        return
    from llmops.mlmodels.explain import describe_row

    result = RowExplanation.model_validate(explained)
    out = console()
    label = f" (actual {actual})" if actual is not None else ""
    out.print(f"{spec.name} v{version} (@{alias}){label}", markup=False)
    for line in describe_row(result):
        out.print(line, markup=False)


def _plain(value: Any) -> Any:
    import math

    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and not math.isfinite(value) else value
