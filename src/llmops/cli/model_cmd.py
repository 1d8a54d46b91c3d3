"""`llmops model`: Train, register, promote and serve classic ML models on MLflow."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Train, register, promote and serve classic ML models on MLflow.", no_args_is_help=True
)
