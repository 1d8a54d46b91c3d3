"""`llmops prompt`: Edit, lint, render, release and label versioned prompts."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Edit, lint, render, release and label versioned prompts.", no_args_is_help=True
)
