"""`llmops serve`: run the OpenAI-compatible gateway configured by serving/gateway.yaml."""

from __future__ import annotations

from typing import Annotated

import typer

from llmops.cli._common import GatewayConfigOpt, print_json, state


def serve(
    ctx: typer.Context,
    config: GatewayConfigOpt = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Bind address (overrides the file).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", "-p", help="Port (overrides the file).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Validate the config and exit (prints routes as JSON).")
    ] = False,
    hash_key: Annotated[
        str | None,
        typer.Option("--hash-key", help="Print the SHA-256 to store for this API key and exit."),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
) -> None:
    """Run the OpenAI-compatible gateway (routes, prompts, RAG, upstream pools, traces)."""
    if hash_key is not None:
        from llmops.gateway.auth import hash_key as digest

        typer.echo(digest(hash_key))
        return
    settings = state(ctx).settings()
    path = config or settings.path("serving") / "gateway.yaml"
    if check:
        from llmops.gateway.config import load_gateway_config

        # The same checks the gateway runs at start: pools, prompt refs and pipelines exist.
        cfg = load_gateway_config(path, settings)
        print_json(
            {
                "config": str(path),
                "routes": {
                    name: {"upstream": r.upstream, "prompt": r.prompt, "pipeline": r.pipeline}
                    for name, r in cfg.routes.items()
                },
                "upstreams": {name: p.kind for name, p in cfg.upstreams.items()},
            }
        )
        return
    from llmops.gateway.server import run

    run(path, settings, host=host, port=port, log_level=log_level)
