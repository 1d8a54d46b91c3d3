"""`llmops prompt`: Edit, lint, render, release and label versioned prompts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmops.cli._common import JsonOpt, print_json, state
from llmops.errors import CheckFailedError, UsageError

if TYPE_CHECKING:
    from llmops.prompts.registry import PromptRegistry

app = typer.Typer(
    help="Edit, lint, render, release and label versioned prompts.", no_args_is_help=True
)

RefArg = Annotated[str, typer.Argument(help="NAME, NAME@3, NAME@production, NAME@draft ...")]
NameArg = Annotated[
    str, typer.Argument(help="Prompt name, e.g. rag-answer (its draft: prompts/NAME.yaml).")
]
LabelArg = Annotated[
    str, typer.Argument(metavar="LABEL", help="A label, e.g. production, staging.")
]


def _registry(ctx: typer.Context) -> PromptRegistry:
    from llmops.prompts.registry import load_registry

    return load_registry(state(ctx).settings())


@app.command("list")
def list_prompts(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List prompts with their released versions, labels and draft state."""
    rows = _registry(ctx).list()
    if json_:
        print_json([row.model_dump(mode="json") for row in rows])
        return
    import shutil

    header = ("NAME", "VERSIONS", "LABELS", "DRAFT")
    cells = [
        (
            row.name,
            ", ".join(str(v) for v in row.versions) or "-",
            ", ".join(f"{k}={v}" for k, v in row.labels.items()) or "-",
            row.draft,
        )
        for row in rows
    ]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(header)]
    room = max(shutil.get_terminal_size().columns - sum(widths) - 2 * len(widths), 12)

    def line(fields: tuple[str, ...], description: str) -> str:
        if len(description) > room:
            description = description[: room - 3] + "..."
        padded = "  ".join(f.ljust(w) for f, w in zip(fields, widths, strict=True))
        return f"{padded}  {description}".rstrip()

    out = [line(header, "DESCRIPTION")]
    out += [line(c, (r.description or "").strip()) for r, c in zip(rows, cells, strict=True)]
    typer.echo("\n".join(out))


@app.command("show")
def show(
    ctx: typer.Context,
    ref: RefArg,
    json_: JsonOpt = False,
) -> None:
    """Show one prompt version: variables, parameters and templates.

    Example:

        llmops prompt show rag-answer@production
    """
    registry = _registry(ctx)
    version = registry.get(ref)
    if json_:
        print_json(
            {
                "ref": version.ref,
                "content_hash": version.content_hash,
                "file": registry.rel(version.source.path),
                "prompt": version.file.model_dump(mode="json", exclude_none=True, by_alias=True),
            }
        )
        return
    out = [f"{version.ref}  {version.content_hash}  ({registry.rel(version.source.path)})"]
    entry = registry.read_lock().prompts.get(version.name)
    labels = sorted(k for k, v in (entry.labels if entry else {}).items() if v == version.version)
    if labels:
        out.append("labels: " + ", ".join(labels))
    if version.file.description:
        out.append(version.file.description.strip())
    out.append("variables:")
    for key, var in version.variables.items():
        extra = "required" if var.is_required else f"default {json.dumps(var.default)}"
        out.append(
            f"  {key}: {var.type}, {extra}" + (f" - {var.description}" if var.description else "")
        )
    out.append("params: " + (json.dumps(version.params, sort_keys=True) or "{}"))
    for role, source in version.message_templates():
        out.append(f"--- {role} ---")
        out.append(source.rstrip("\n"))
    typer.echo("\n".join(out))


def _parse_vars(registry_version: Any, pairs: list[str], vars_file: Path | None) -> dict[str, Any]:
    from llmops.prompts.template import coerce_cli_value

    values: dict[str, Any] = {}
    if vars_file is not None:
        try:
            loaded = json.loads(vars_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError("vars file not found", file=vars_file) from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise UsageError(f"vars file is not valid JSON: {exc}", file=vars_file) from None
        if not isinstance(loaded, dict):
            raise UsageError("vars file must hold a JSON object {name: value}", file=vars_file)
        values.update(loaded)
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--var expects NAME=VALUE, got '{pair}'")
        var = registry_version.variables.get(key)
        values[key] = coerce_cli_value(key, raw, var) if var is not None else raw
    return values


@app.command("render")
def render(
    ctx: typer.Context,
    ref: RefArg,
    var: Annotated[
        list[str] | None,
        typer.Option("--var", "-v", help="NAME=VALUE (arrays/objects as JSON); repeatable."),
    ] = None,
    vars_file: Annotated[
        Path | None, typer.Option("--vars-file", help="JSON object of variables.")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Render a prompt version strictly: missing or wrongly typed variables are errors.

    Examples:

        llmops prompt render rag-answer@draft --var question="What is a closure?"

        llmops prompt render rag-answer@production --vars-file vars.json --json
    """
    version = _registry(ctx).get(ref)
    rendered = version.render(**_parse_vars(version, var or [], vars_file))
    if json_:
        print_json(rendered.model_dump(mode="json", exclude={"variables"}))
        return
    out = [f"# {version.ref}  {version.content_hash}"]
    if rendered.params:
        out.append("# params: " + json.dumps(rendered.params, sort_keys=True))
    for message in rendered.messages:
        out.append(f"--- {message['role']} ---")
        out.append(message["content"])
    typer.echo("\n".join(out))


@app.command("diff")
def diff(
    ctx: typer.Context,
    ref_a: Annotated[str, typer.Argument(help="The older version, e.g. rag-answer@1.")],
    ref_b: Annotated[str, typer.Argument(help="The newer version, e.g. rag-answer@draft.")],
    json_: JsonOpt = False,
) -> None:
    """Show template, variable and parameter changes between two versions.

    Example:

        llmops prompt diff rag-answer@production rag-answer@draft
    """
    result = _registry(ctx).diff(ref_a, ref_b)
    if json_:
        print_json(result.model_dump(mode="json"))
        return
    typer.echo(result.to_text())


@app.command("lint")
def lint(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Check every prompt file and the lock; exit 1 naming file and version per problem."""
    registry = _registry(ctx)
    problems = registry.lint()
    if json_:
        print_json({"ok": not problems, "problems": [p.to_dict() for p in problems]})
        if problems:
            raise typer.Exit(1)
        return
    if problems:
        raise CheckFailedError(
            f"{len(problems)} problem(s) in {registry.rel(registry.directory)}/",
            problems=[str(p) for p in problems],
        )
    rows = registry.list()
    releases = sum(len(r.versions) for r in rows)
    typer.echo(f"ok: {len(rows)} prompt(s), {releases} released version(s), lock consistent")


@app.command("release")
def release(
    ctx: typer.Context,
    name: NameArg,
    note: Annotated[
        str | None, typer.Option("--note", "-m", help="Why: recorded in prompts.lock.")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Freeze the working draft as the next immutable version (refused on lint problems).

    Example:

        llmops prompt release rag-answer -m "cite sources inline"
    """
    result = _registry(ctx).release(name, note=note)
    if json_:
        print_json(result)
        return
    typer.echo(f"released {result.name}@{result.version} ({result.content_hash}) -> {result.file}")


@app.command("label")
def label(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="A released version, e.g. rag-answer@2.")],
    label_: LabelArg,
    new: Annotated[
        bool, typer.Option("--new", help="Create a label no prompt of the project uses yet.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Point a label (production, staging, ...) at a released version.

    A label no prompt uses yet needs --new, so a typo never creates one.

    Examples:

        llmops prompt label rag-answer@3 staging

        llmops prompt label rag-answer@3 canary --new
    """
    result = _registry(ctx).label(ref, label_, create=new)
    if json_:
        print_json(result)
        return
    was = f" (was {result.previous})" if result.previous is not None else ""
    typer.echo(f"{result.name}@{result.label} -> {result.version}{was}")


@app.command("unlabel")
def unlabel(
    ctx: typer.Context,
    name: NameArg,
    label_: LabelArg,
    json_: JsonOpt = False,
) -> None:
    """Remove a label from a prompt (its versions stay).

    Example:

        llmops prompt unlabel rag-answer canary
    """
    result = _registry(ctx).unlabel(name, label_)
    if json_:
        print_json(result)
        return
    bare = (
        f"{result.name} now resolves to version {result.bare_resolves_to}"
        if result.bare_resolves_to is not None
        else f"{result.name} has no released version"
    )
    typer.echo(f"removed {result.name}@{result.label} (was {result.previous}); {bare}")


@app.command("push")
def push(
    ctx: typer.Context,
    tracking_uri: Annotated[
        str | None,
        typer.Option("--tracking-uri", help="MLflow URI; default mlflow.tracking_uri / sqlite."),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Register released versions in MLflow's prompt registry; labels become aliases."""
    report = _registry(ctx).push(tracking_uri)
    if json_:
        print_json(report)
        return
    for line in report.registered:
        typer.echo(f"registered {line}")
    for line in report.aliases:
        typer.echo(f"alias {line}")
    typer.echo(
        f"{len(report.registered)} registered, {len(report.aliases)} alias(es) set, "
        f"{report.unchanged} unchanged ({report.tracking_uri})"
    )


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of the prompt file format (for editors)."""
    from llmops.prompts.schema import prompt_schema

    print_json(prompt_schema())
