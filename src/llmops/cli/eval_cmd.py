"""`llmops eval`: Run eval suites and gate changes on them."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run eval suites and gate changes on them.", no_args_is_help=True)
