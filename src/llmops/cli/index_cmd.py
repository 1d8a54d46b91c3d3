"""`llmops index`: Build, inspect and roll back versioned RAG indexes."""

from __future__ import annotations

import typer

app = typer.Typer(help="Build, inspect and roll back versioned RAG indexes.", no_args_is_help=True)
