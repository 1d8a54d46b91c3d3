"""The ``llmops`` command: a thin skin over the library.

One module per command group; each imports heavy libraries only inside its commands so that
``llmops --help`` stays fast. ``main()`` is the only place errors become exit codes:
2 for usage and configuration errors, 1 for failed checks, never a traceback unless ``--debug``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import click
import typer

from llmops import __version__
from llmops.cli import (
    _common,
    eval_cmd,
    guard_cmd,
    index_cmd,
    init_cmd,
    model_cmd,
    monitor_cmd,
    prompt_cmd,
    query_cmd,
    report_cmd,
    serve_cmd,
    vllm_cmd,
)
from llmops.errors import LLMOpsError

__all__ = ["app", "main"]

app = typer.Typer(
    name="llmops",
    help="Take LLM applications from a notebook to production and keep them honest there.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmops {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    project: Annotated[
        Path | None,
        typer.Option("--project", "-C", help="Run as if started in this folder."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Take LLM applications from a notebook to production and keep them honest there."""
    ctx.obj = _common.CliState(debug=debug, project=project)


app.command("init")(init_cmd.init)
app.add_typer(prompt_cmd.app, name="prompt")
app.add_typer(index_cmd.app, name="index")
app.command("query")(query_cmd.query)
app.add_typer(eval_cmd.app, name="eval")
app.add_typer(monitor_cmd.app, name="monitor")
app.add_typer(model_cmd.app, name="model")
app.add_typer(report_cmd.app, name="report")
app.command("serve")(serve_cmd.serve)
app.add_typer(vllm_cmd.app, name="vllm")
app.add_typer(guard_cmd.app, name="guard")


def _print_error(exc: LLMOpsError) -> None:
    err = _common.err_console()
    loc = f" ({exc.location})" if exc.location else ""
    err.print(f"[bold red]error:[/] {exc.message}{loc}", markup=True, highlight=False)
    if exc.hint:
        err.print(f"[dim]hint:[/] {exc.hint}", markup=True, highlight=False)
    problems = getattr(exc, "problems", None)
    if problems:
        for problem in problems:
            err.print(f"  - {problem}", markup=False, highlight=False)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (the console script exits with it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("LLMOPS_DEBUG") == "1"
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="llmops", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.exceptions.Abort:
        _common.err_console().print("aborted")
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except LLMOpsError as exc:
        if debug:
            raise
        _print_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        _common.err_console().print("interrupted")
        return 130
    return int(result) if isinstance(result, int) else 0
