"""`llmops guard`: Run the gateway's guardrails on text, one message or a JSONL file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmops.cli._common import GatewayConfigOpt, JsonOpt, print_json, state
from llmops.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from llmops.guards.base import Verdict
    from llmops.guards.pipeline import GuardPipeline

__all__ = ["app"]

app = typer.Typer(
    help="Run the gateway's guardrails on text, one message or a JSONL file.",
    no_args_is_help=True,
)

_STAGES = ("input", "contexts", "output")


def _pipeline(
    ctx: typer.Context, route: str | None, config: Path | None, system_prompt: str | None
) -> GuardPipeline:
    from llmops.guards import GuardPipeline, default_guards

    if route is None:
        return GuardPipeline.from_config(default_guards(), system_prompt=system_prompt)
    from llmops.gateway.config import load_gateway_config

    settings = state(ctx).settings()
    path = config or settings.path("serving") / "gateway.yaml"
    gateway = load_gateway_config(path)
    if route not in gateway.routes:
        from llmops.suggest import suggestion

        raise NotFoundError(
            f"no route '{route}' in {path}" + suggestion(route, list(gateway.routes)),
            hint=f"routes: {', '.join(sorted(gateway.routes)) or 'none'}",
        )
    # The route's guards.engine (direct or guardrails) applies here too.
    return GuardPipeline.from_config(gateway.routes[route].guards, system_prompt=system_prompt)


def _run(pipeline: GuardPipeline, text: str, stage: str, contexts: list[str]) -> Verdict:
    if stage == "output":
        return pipeline.check_output(text, contexts=contexts)
    if stage == "contexts":
        return pipeline.check_contexts([text])
    return pipeline.check_input([{"role": "user", "content": text}])


def _dump(verdict: Verdict) -> dict[str, Any]:
    return verdict.model_dump(mode="json", exclude={"messages", "contexts"})


def _human(verdict: Verdict) -> None:
    typer.echo(f"{verdict.action.upper()}  ({verdict.stage}, {verdict.latency_ms:.1f} ms)")
    for r in verdict.results:
        mark = "ok  " if r.passed else "FAIL"
        extra = f" -> {r.on_fail}" if not r.passed else ""
        typer.echo(f"  {mark} {r.name:<20} score={r.score:<7} {r.latency_ms:6.2f} ms{extra}")
        for span in r.spans:
            typer.echo(f"       {span.type} [{span.start}:{span.end}] {span.text!r}")
    if verdict.action == "fix":
        typer.echo(f"fixed: {verdict.text}")
    if verdict.code:
        typer.echo(f"code: {verdict.code}")


@app.command("check")
def check(
    ctx: typer.Context,
    text: Annotated[str | None, typer.Argument(help="Text to check ('-' reads stdin).")] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help='JSONL file, one {"text": ...} per line.'),
    ] = None,
    route: Annotated[
        str | None, typer.Option("--route", "-r", help="Use this gateway route's guards.")
    ] = None,
    stage: Annotated[str, typer.Option("--stage", help="input, contexts or output.")] = "input",
    config: GatewayConfigOpt = None,
    system_prompt: Annotated[
        str | None, typer.Option("--system-prompt", help="System prompt for leak checks.")
    ] = None,
    context: Annotated[
        list[str] | None, typer.Option("--context", help="Retrieved context (output stage).")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Check text with the default guards (or a route's); exit 1 when blocked."""
    if stage not in _STAGES:
        raise UsageError(f"unknown stage '{stage}'", hint=f"use one of: {', '.join(_STAGES)}")
    if (text is None) == (file is None):
        raise UsageError("give either TEXT or --file", hint='llmops guard check "some text"')
    pipeline = _pipeline(ctx, route, config, system_prompt)
    contexts = list(context or [])
    if text is not None:
        if text == "-":
            text = sys.stdin.read()
        verdict = _run(pipeline, text, stage, contexts)
        if json_:
            print_json(_dump(verdict))
        else:
            _human(verdict)
        if verdict.action == "block":
            raise typer.Exit(1)
        return
    if file is None or not file.is_file():
        raise NotFoundError(f"no such file: {file}")
    blocked = 0
    with file.open("r", encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                    raise ValueError('expected an object with a string "text"')
            except ValueError as exc:
                out: dict[str, Any] = {"line": number, "error": str(exc)}
            else:
                verdict = _run(pipeline, item["text"], stage, contexts)
                blocked += verdict.action == "block"
                out = {
                    "line": number,
                    **({"id": item["id"]} if "id" in item else {}),
                    **_dump(verdict),
                }
            if json_:
                typer.echo(json.dumps(out, ensure_ascii=False))
            else:
                typer.echo(
                    f"{number}: {out.get('action', 'error')} {out.get('code') or out.get('error') or ''}"
                )
    if blocked:
        raise typer.Exit(1)


@app.command("list")
def list_guards(json_: JsonOpt = False) -> None:
    """List the registered guards, where they run and whether they can fix text."""
    from llmops.guards.registry import available_guards, get_guard_info

    rows: list[dict[str, Any]] = []
    for name in available_guards():
        info = get_guard_info(name)
        rows.append(
            {
                "name": name,
                "stages": list(info.stages),
                "fixable": info.fixable,
                "options": sorted(info.options_model.model_fields),
                "summary": info.summary,
            }
        )
    if json_:
        print_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['name']:<20} {','.join(row['stages']):<22} {row['summary']}")
