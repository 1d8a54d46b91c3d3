"""`llmops monitor`: Watch production traces for hallucination and retrieval drift."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Watch production traces for hallucination and retrieval drift.", no_args_is_help=True
)
