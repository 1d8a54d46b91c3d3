"""`llmops index`: Build, inspect and roll back versioned RAG indexes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmops.cli._common import JsonOpt, PipelineArg, err_console, print_json, state

if TYPE_CHECKING:
    from llmops.rag.pipeline import Pipeline

app = typer.Typer(help="Build, inspect and roll back versioned RAG indexes.", no_args_is_help=True)

#: What each number of the run summary counts (also in docs/cli.md).
COUNTS = {
    "files": "files the sources' include globs selected",
    "documents": "documents read from them (a JSONL file holds one per record)",
    "chunks": "chunks in the new version",
    "embedded": "chunks whose text was embedded by this run",
    "copied": "unchanged chunks copied, vectors included, from the served version",
    "kept": "chunks already in the new version's collection (a resumed run, or no change)",
    "removed": "stray chunks deleted from the new version's collection (left by a killed run)",
    "dropped": "chunks of the served version that the new one no longer has",
    "duplicates": "files identical to an earlier file, indexed once",
    "skipped": "files or documents not indexed, by reason (named below)",
}
_SHOWN = 20  # files named per list before "... and N more"


def _pipeline(ctx: typer.Context, ref: str) -> Pipeline:
    from llmops.gateway.admin_client import pipeline_for

    # Through the running gateway's admin API when one owns the embedded store.
    return pipeline_for(ref, state(ctx).settings())  # type: ignore[no-any-return]


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


@app.command("run")
def run(
    ctx: typer.Context,
    pipeline: PipelineArg,
    full: Annotated[bool, typer.Option("--full", help="Rebuild everything (re-embed).")] = False,
    allow_shrink: Annotated[
        bool,
        typer.Option(
            "--allow-shrink",
            help="Serve the build even if it is empty or smaller than store.max_shrink allows.",
        ),
    ] = False,
    executor: Annotated[
        str | None,
        typer.Option(
            "--executor",
            help="Where new chunks are embedded: local or ray (default: the pipeline file's).",
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option("--address", help="Ray head host:port for --executor ray (ray.address)."),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Build the index incrementally and switch the served alias to it.

    A build that would serve nothing, or lose more than store.max_shrink of the served chunks,
    is refused (exit 1) unless --allow-shrink.

    Examples:

        llmops index run python-docs

        llmops index run docs --full --json

        llmops index run docs --executor ray --address 10.0.0.5:6379
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    pipe = _pipeline(ctx, pipeline)
    if executor is not None or address is not None:
        from llmops.rag.ray_executor import with_executor

        with_executor(pipe, executor, address)
    quiet = json_ or not err_console().is_terminal
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=err_console(),
        disable=quiet,
        transient=True,
    )
    seen: dict[str, int] = {}

    def progress(stage: str, counts: dict[str, int]) -> None:
        seen.update(counts)
        info = (
            f"documents {seen.get('documents', 0)}  chunks {seen.get('chunks', 0)}  "
            f"embedded {seen.get('embedded', 0)}  skipped {seen.get('skipped', 0)}"
        )
        total = seen.get("chunks") if stage in ("embed", "copy", "done") else None
        done = seen.get("embedded", 0) + seen.get("copied", 0)
        bar.update(task, description=stage, info=info, total=total, completed=done)

    with bar:
        task = bar.add_task("discover", total=None, info="")
        result = pipe.run(full=full, progress=progress, allow_shrink=allow_shrink)
    if json_:
        print_json(
            {
                "pipeline": result.pipeline,
                "index_version": result.index_version,
                "collection": result.collection,
                "switched": result.switched,
                "previous_version": result.previous_version,
                "counts": result.counts,
                "timings": result.timings,
                "lineage": result.lineage.model_dump(mode="json"),
                "manifest": str(result.manifest_path),
            }
        )
        return
    typer.echo(_summary(result))


def _summary(result: Any) -> str:
    """Return the run summary: one line per figure with what it counts, then named files."""
    c = result.counts
    skipped = ", ".join(f"{v} {k}" for k, v in c["skipped_by_reason"].items()) or "0"
    head = [
        ("version", result.index_version, ""),
        ("previous", result.previous_version or "-", ""),
        ("served", "switched" if result.switched else "unchanged (already served)", ""),
    ]
    rows = head + [
        (key, skipped if key == "skipped" else c.get(key, 0), COUNTS[key]) for key in COUNTS
    ]
    rows.append(("time", f"{result.timings.get('total', 0.0):.2f}s", ""))
    width = max(len(str(v)) for _, v, _ in rows)
    lines = [f"index {result.pipeline}"]
    for key, value, meaning in rows:
        note = f"  {meaning}" if meaning else ""
        lines.append(f"{key:<11} {str(value):>{width}}{note}".rstrip())
    lines += _named("skipped", c.get("skipped_files") or {})
    lines += _named("decoded (not UTF-8)", c.get("decoded") or {})
    return "\n".join(lines)


def _named(title: str, files: dict[str, str]) -> list[str]:
    if not files:
        return []
    items = sorted(files.items())
    out = [f"{title}:"] + [f"  {name}: {why}" for name, why in items[:_SHOWN]]
    if len(items) > _SHOWN:
        out.append(f"  ... and {len(items) - _SHOWN} more (--json lists all)")
    return out


@app.command("status")
def status(ctx: typer.Context, pipeline: PipelineArg, json_: JsonOpt = False) -> None:
    """Show the served version, its age, retained versions and which source files changed.

    Example:

        llmops index status python-docs
    """
    pipe = _pipeline(ctx, pipeline)
    served = pipe.served()
    skipped_files = (
        {pipe.file_label(k): r.skipped for k, r in served.files.items() if r.skipped}
        if served
        else {}
    )
    changes = pipe.changed_files(served) if served else None
    if changes:
        changes = {kind: [pipe.file_label(k) for k in keys] for kind, keys in changes.items()}
    since = pipe.manifests.served_since(served.index_version) if served else None
    age = time.time() - since if since else None
    versions = [
        {"index_version": m.index_version, "created_at": m.created_at, "chunks": m.chunk_count}
        for m in pipe.manifests.versions()
    ]
    doc = {
        "pipeline": pipe.name,
        "alias": pipe.spec.alias,
        "served_version": served.index_version if served else None,
        "collection": served.collection if served else None,
        "chunks": served.chunk_count if served else 0,
        "embedding_model": served.embedding_model if served else pipe.model_spec,
        "built_at": served.created_at if served else None,
        "served_for_seconds": round(age, 1) if age is not None else None,
        "sources_changed": bool(changes and any(changes.values())),
        "changes": changes,
        "config_changed": bool(served and served.pipeline_hash != pipe.pipeline_hash),
        "skipped_files": skipped_files,
        "versions": versions,
    }
    if json_:
        print_json(doc)
        return
    if served is None:
        typer.echo(f"{pipe.name}: nothing served yet (run `llmops index run {pipe.name}`)")
        return
    lines = [
        f"pipeline      {pipe.name} (alias {pipe.spec.alias})",
        f"served        {served.index_version}  {served.chunk_count} chunks  built {served.created_at}",
        f"age           {_age(age)}",
        f"model         {served.embedding_model} ({served.dim} dims)",
    ]
    if changes and any(changes.values()):
        summary = ", ".join(f"{len(v)} {k}" for k, v in changes.items() if v)
        lines.append(
            f"sources       changed since build: {summary} -> run `llmops index run {pipe.name}`"
        )
        for kind, keys in changes.items():
            lines += [f"  {kind}: {name}" for name in keys[:_SHOWN]]
            if len(keys) > _SHOWN:
                lines.append(f"  ... and {len(keys) - _SHOWN} more {kind} (--json lists all)")
    else:
        lines.append("sources       unchanged since build")
    lines += _named("skipped (not indexed)", skipped_files)
    if doc["config_changed"]:
        lines.append("pipeline file changed since build")
    lines.append("versions      " + ", ".join(str(v["index_version"]) for v in versions))
    typer.echo("\n".join(lines))


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    pipeline: PipelineArg,
    to: Annotated[
        str | None, typer.Option("--to", help="Version (or prefix); default: the previous one.")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Serve an older retained version again (atomic alias switch).

    Examples:

        llmops index rollback python-docs

        llmops index rollback python-docs --to 3f2a
    """
    pipe = _pipeline(ctx, pipeline)
    previous, target = pipe.rollback(to)
    if json_:
        print_json({"pipeline": pipe.name, "previous_version": previous, "index_version": target})
        return
    typer.echo(f"{pipe.name}: now serving {target} (was {previous or 'nothing'})")


@app.command("migrate")
def migrate(
    ctx: typer.Context,
    pipeline: PipelineArg,
    to: Annotated[str, typer.Option("--to", help="Embedded store to move to: edge or local.")],
    drop_source: Annotated[
        bool, typer.Option("--drop-source", help="Delete the old store's copies after switching.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Copy an index's versions into another embedded store and serve from there.

    Atomic (a crash leaves the old store serving) and idempotent. Stop a gateway serving the
    project first: it owns the embedded store.

    Examples:

        llmops index migrate python-docs --to edge
    """
    from llmops.rag.migration import migrate as run_migration
    from llmops.rag.pipeline import Pipeline

    pipe = Pipeline.resolve(pipeline, state(ctx).settings())
    result = run_migration(pipe, to, drop_source=drop_source)
    if json_:
        print_json(dict(vars(result)))
        return
    if not result.moved:
        typer.echo(f"{pipe.name}: already in the {result.target} store; nothing to do")
        return
    kept = "deleted" if result.dropped_source else "kept (--drop-source deletes them)"
    typer.echo(
        f"{pipe.name}: {len(result.versions)} version(s), {result.points} points copied from "
        f"{result.source} to {result.target}; serving {result.served or 'nothing'} from "
        f"{result.target}; the {result.source} copies are {kept}"
    )


@app.command("export-sample")
def export_sample(
    ctx: typer.Context,
    to: Annotated[
        Path | None,
        typer.Option("--to", help="Folder to write; default <state>/corpus/python-docs."),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Write the sample corpus (Python Language Reference topics + stdlib docstrings)."""
    from llmops.rag.corpus import export_python_docs

    dest = to or state(ctx).settings().state_path / "corpus" / "python-docs"
    counts = export_python_docs(dest)
    if json_:
        print_json({"path": str(dest), **counts})
        return
    typer.echo(f"wrote {counts['topics']} topics and {counts['modules']} modules to {dest}")
