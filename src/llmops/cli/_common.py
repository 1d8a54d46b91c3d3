"""What every command group shares: the per-invocation state, JSON output, consoles."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from llmops.config import Settings

__all__ = [
    "CliState",
    "GatewayConfigOpt",
    "JsonOpt",
    "PipelineArg",
    "TracesOpt",
    "console",
    "err_console",
    "print_json",
    "state",
]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
GatewayConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Gateway config; default <serving>/gateway.yaml."),
]
PipelineArg = Annotated[
    str, typer.Argument(help="Pipeline name (rag_pipelines/NAME.yaml) or path to a pipeline file.")
]
TracesOpt = Annotated[
    str | None,
    typer.Option(
        "--traces",
        help="Trace store URL (default: traces.url of serving/gateway.yaml, else the project's "
        "trace store).",
    ),
]


@dataclass
class CliState:
    """Options of the root command, and the settings loaded on first use."""

    debug: bool = False
    project: Path | None = None
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        """Return the project settings (llmops.yaml + LLMOPS_* overrides), loaded once."""
        if self._settings is None:
            from llmops.config import load_settings

            self._settings = load_settings(self.project)
        return self._settings


def state(ctx: typer.Context) -> CliState:
    """Return the CliState of this invocation."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def print_json(obj: Any) -> None:
    """Write ``obj`` as JSON (one document) to stdout."""
    if hasattr(obj, "model_dump"):
        obj = obj.model_dump(mode="json")
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def console() -> Console:
    """Return a rich console on stdout (lines are not wrapped when stdout is not a terminal)."""
    from rich.console import Console

    out = Console(highlight=False, soft_wrap=False)
    out.soft_wrap = not out.is_terminal
    return out


def err_console() -> Console:
    """Return a rich console on stderr.

    When stderr is not a terminal (CI logs, pipes) nothing is wrapped: rich would otherwise
    break lines at 80 columns, splitting a hint's command in two.
    """
    from rich.console import Console

    err = Console(stderr=True, highlight=False)
    err.soft_wrap = not err.is_terminal
    return err
