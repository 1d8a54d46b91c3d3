"""`llmops init [DIR]`: scaffold a new project with one example of each file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmops.cli._common import console


def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create or fill.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Scaffold a project: llmops.yaml, prompts/, rag_pipelines/, evals/, golden_sets/, serving/.

    Examples:

        llmops init my-project

        llmops init . --force
    """
    from llmops.scaffold import scaffold

    written = scaffold(directory, force=force)
    out = console()
    for path in written:
        out.print(f"created {path}")
    out.print(
        f"[green]initialised[/] {directory.resolve()}  (next: cd {directory} && llmops prompt lint)"
    )
