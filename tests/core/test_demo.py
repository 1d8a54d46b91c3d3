"""The demo's step runner: banners, commands shown, the first failing step stops the run."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from llmops.demo import (
    Demo,
    Step,
    _stop,
    cli,
    default_steps,
    interruptible,
    join_vllm,
    main,
    serve_and_ask,
    start_vllm,
)
from llmops.errors import CheckFailedError


def test_failing_command_stops_the_run_and_names_the_step(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ran: list[str] = []
    steps = [
        Step("first", "prints the version", [cli("--version")]),
        Step(
            "broken",
            "renders a prompt that does not exist",
            [cli("prompt", "render", "nope@production")],
        ),
        Step("never", "must not run", [lambda demo: ran.append("never")]),
    ]
    code = Demo(tmp_path, out=sys.stdout).run(steps)
    out = capfd.readouterr().out
    assert code == 1
    assert ran == []
    assert "=== [1/3] first: prints the version ===" in out
    assert "$ llmops --version" in out
    assert "llmops 0." in out  # the real command's output reaches the user
    assert "$ llmops prompt render nope@production" in out
    assert (
        "demo stopped at step 2/3 (broken): `llmops prompt render nope@production` exited with status 2"
        in out
    )
    assert "[3/3]" not in out
    assert "demo finished" not in out


def test_failing_action_prints_its_message_and_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(demo: Demo) -> None:
        raise CheckFailedError("the gateway was not ready", hint="look at its log")

    code = Demo(tmp_path, out=sys.stdout).run([Step("serve", "starts the gateway", [boom])])
    out = capsys.readouterr().out
    assert code == 1
    assert "demo stopped at step 1/1 (serve): the gateway was not ready" in out
    assert "hint: look at its log" in out


def test_all_steps_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ran: list[str] = []
    steps = [Step(n, n, [lambda demo, n=n: ran.append(n)]) for n in ("a", "b")]
    assert Demo(tmp_path, out=sys.stdout).run(steps) == 0
    assert ran == ["a", "b"]
    assert "demo finished: 2 steps" in capsys.readouterr().out


def test_serve_step_fails_fast_when_the_gateway_cannot_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An empty folder has no serving/gateway.yaml: `llmops serve` exits 2, the step must not hang.
    with pytest.raises(
        CheckFailedError, match=r"`llmops serve` exited with status 2 before it was ready"
    ):
        serve_and_ask(Demo(tmp_path, out=sys.stdout), ready_timeout=60)
    assert "$ llmops serve --host 127.0.0.1 --port" in capsys.readouterr().out


def test_default_steps_keep_the_store_owner_order() -> None:
    # The gateway holds the embedded Qdrant store: index before serve, serve before eval; the
    # model (vLLM) starts first, in the background, and is joined before the gateway asks it.
    names = ["model", "prompts", "index", "query", "serve", "eval"]
    assert [s.name for s in default_steps()] == names
    assert [s.name for s in default_steps(offline=True)] == [n for n in names if n != "model"]


def test_unknown_step_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--steps", "prompts,bogus"])
    assert info.value.code == 2
    assert "unknown step(s) bogus" in capsys.readouterr().err


def _child(code: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, preexec_fn=interruptible
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # the child prints once its SIGINT handling is in place
    return proc


def test_stop_sends_ctrl_c_and_returns_the_exit_status() -> None:
    proc = _child(
        "import sys, time\n"
        "try:\n    print('ready', flush=True)\n    time.sleep(60)\n"
        "except KeyboardInterrupt:\n    sys.exit(130)\n"
    )
    assert _stop(proc, grace=30) == 130
    assert proc.stdout is not None
    proc.stdout.close()


def test_stop_kills_a_process_that_ignores_ctrl_c() -> None:
    proc = _child(
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "print('ready', flush=True)\ntime.sleep(60)\n"
    )
    with pytest.raises(CheckFailedError, match="did not stop within 1 s of SIGINT"):
        _stop(proc, grace=1)
    assert proc.returncode == -signal.SIGKILL
    assert proc.stdout is not None
    proc.stdout.close()


def test_logs_get_wide_tables_but_an_explicit_width_wins(tmp_path: Path) -> None:
    assert Demo(tmp_path, out=io.StringIO(), env={}).env["COLUMNS"] == "120"
    assert Demo(tmp_path, out=io.StringIO(), env={"COLUMNS": "90"}).env["COLUMNS"] == "90"


def test_the_demo_says_which_upstream_answered() -> None:
    from llmops.demo import describe_upstream

    assert "offline fallback" in describe_upstream("offline")
    assert "vLLM server" in describe_upstream("vllm/discovered:smollm2-135m-instruct")
    assert "unknown" in describe_upstream("")


def test_a_failed_background_launch_fails_the_step_that_joins_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A folder without the profile: the real `llmops vllm launch` fails at once, in the background.
    (tmp_path / "llmops.yaml").write_text("project: empty\n")
    demo = Demo(tmp_path, out=sys.stdout)
    start_vllm(demo)
    assert demo.background is not None
    with pytest.raises(CheckFailedError, match=r"`llmops vllm launch smollm2-135m-instruct "):
        join_vllm(demo)
    out = capsys.readouterr().out
    assert "$ llmops vllm launch smollm2-135m-instruct --detach &" in out
    assert "smollm2-135m-instruct" in out.split("waiting for", 1)[1]  # the launch's own error
    assert demo.background is None
    join_vllm(demo)  # nothing left to join: a no-op
