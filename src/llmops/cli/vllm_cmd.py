"""`llmops vllm`: Print, launch and stop vLLM servers from serving/vllm/ profiles."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from llmops.cli._common import JsonOpt, console, print_json, state

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.vllm.profile import VllmProfile

app = typer.Typer(
    help="Print, launch and stop vLLM servers from serving/vllm/ profiles.", no_args_is_help=True
)

ProfileArg = Annotated[str, typer.Argument(help="profile name (serving/vllm/NAME.yaml) or path")]
PythonOpt = Annotated[
    str | None,
    typer.Option("--python", help="interpreter with vLLM (default: vllm.python setting)"),
]


def _profile(settings: Settings, name: str) -> VllmProfile:
    from llmops.vllm.profile import find_profile, load_profile

    return load_profile(find_profile(name, settings.path("serving") / "vllm"))


@app.command("command")
def command(
    ctx: typer.Context, profile: ProfileArg, python: PythonOpt = None, json_: JsonOpt = False
) -> None:
    """Print the exact command that starts the vLLM server of PROFILE."""
    from llmops.vllm.profile import build_command, shell_command

    settings = state(ctx).settings()
    prof = _profile(settings, profile)
    interpreter = python or settings.vllm.python or "python"
    if json_:
        env = dict(prof.env)
        if prof.api_key_env:
            env["VLLM_API_KEY"] = f"${prof.api_key_env}"
        print_json({"argv": build_command(prof, interpreter), "env": env})
        return
    typer.echo(shell_command(prof, interpreter))


@app.command("launch")
def launch_cmd(
    ctx: typer.Context,
    profile: ProfileArg,
    python: PythonOpt = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="seconds to wait for /health")
    ] = None,
    detach: Annotated[
        bool, typer.Option("--detach", help="leave the server running and return")
    ] = False,
) -> None:
    """Start PROFILE's vLLM server, wait until healthy and announce it to the gateway."""
    import signal

    from llmops.vllm.launcher import launch
    from llmops.vllm.upstreams import unregister_upstream

    settings = state(ctx).settings()
    prof = _profile(settings, profile)
    server, announced = launch(
        prof,
        settings.state_path,
        python=python or settings.vllm.python,
        timeout=timeout or settings.vllm.startup_timeout,
    )
    out = console()
    out.print(f"vLLM '{prof.served}' healthy at {server.base_url}")
    out.print(f"announced in {announced}  (log: {server.log_path})")
    if detach:
        out.print(
            f"detached: pid {server.record().pid}; stop with `llmops vllm stop {prof.served}`"
        )
        return

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # The server runs in its own session, so a supervisor's SIGTERM must be relayed by hand.
    signal.signal(signal.SIGTERM, _terminate)
    code: int | None = None
    try:
        if server.process is not None:
            code = server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        code = server.stop()
        unregister_upstream(settings.state_path, prof.served)
    out.print(f"vLLM '{prof.served}' stopped (exit code {code})")


@app.command("stop")
def stop(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="served model name of a launched server")],
) -> None:
    """Stop a server started with `launch --detach` and withdraw its announcement."""
    from llmops.errors import NotFoundError
    from llmops.vllm.launcher import stop_process_group
    from llmops.vllm.upstreams import pid_alive, read_upstream, unregister_upstream, upstream_file

    settings = state(ctx).settings()
    path = upstream_file(settings.state_path, name)
    if not path.is_file():
        raise NotFoundError(
            f"no launched upstream '{name}'", hint="`llmops vllm list` shows the running ones"
        )
    record = read_upstream(path)
    if record.pid is not None and pid_alive(record.pid):
        stop_process_group(record.pid)
    unregister_upstream(settings.state_path, name)
    console().print(f"stopped '{name}'")


@app.command("list")
def list_cmd(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List the profiles in serving/vllm/ and the servers announced to the gateway."""
    from llmops.vllm.profile import list_profiles, load_profile
    from llmops.vllm.upstreams import list_upstreams, pid_alive

    settings = state(ctx).settings()
    profiles = [load_profile(p) for p in list_profiles(settings.path("serving") / "vllm")]
    upstreams = list_upstreams(settings.state_path)
    if json_:
        print_json(
            {
                "profiles": [
                    {"name": p.name, "file": str(p.path), **p.model_dump(mode="json")}
                    for p in profiles
                ],
                "upstreams": [
                    {**u.model_dump(mode="json"), "alive": pid_alive(u.pid)} for u in upstreams
                ],
            }
        )
        return
    lines = ["profiles:"]
    lines += [f"  {p.name}: {p.model} as '{p.served}' on {p.host}:{p.port}" for p in profiles]
    lines.append("running:")
    lines += [
        f"  {u.name}: {u.base_url} pid {u.pid} ({'alive' if pid_alive(u.pid) else 'gone'})"
        for u in upstreams
    ]
    typer.echo("\n".join(lines))


@app.command("prepare")
def prepare_cmd(
    name: Annotated[
        str, typer.Argument(help="GGUF model shipped in a Python package, e.g. smollm2")
    ] = "smollm2",
    json_: JsonOpt = False,
) -> None:
    """Convert a packaged GGUF model into the folder vLLM serves (once per machine; cached)."""
    import time

    from llmops.vllm.gguf_model import gguf_model, prepare_gguf

    model = gguf_model(name)
    started = time.perf_counter()
    folder = prepare_gguf(name)
    seconds = time.perf_counter() - started
    if json_:
        print_json({"model": name, "served_name": model.served_name, "path": str(folder)})
        return
    typer.echo(f"{name} ({model.served_name}) ready in {seconds:.1f} s: {folder}")


@app.command("schema")
def schema(
    write: Annotated[
        Path | None, typer.Option("--write", help="write the schema to this file")
    ] = None,
) -> None:
    """Print the JSON Schema of a vLLM profile file (for editor validation)."""
    from llmops.vllm.schema import SHIPPED, profile_schema

    if write is not None:
        SHIPPED.write(write)
        return
    print_json(profile_schema())
