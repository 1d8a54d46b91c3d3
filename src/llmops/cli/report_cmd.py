"""`llmops report`: Build eval report dashboards."""

from __future__ import annotations

import typer

app = typer.Typer(help="Build eval report dashboards.", no_args_is_help=True)
