"""`llmops vllm launch --detach` / `list` / `stop` against a real vLLM CPU server on SmolLM2.

The profile is the shipped one (``model: gguf:smollm2``, the machine-cached folder) on a free
port under another served name, so these servers never collide with the session's shared one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmops.vllm.upstreams import pid_alive

pytestmark = pytest.mark.vllm


SHIPPED = Path(__file__).resolve().parents[2] / "serving" / "vllm" / "smollm2-135m-instruct.yaml"


def write_profile(project: Path) -> None:
    profiles = project / "serving" / "vllm"
    profiles.mkdir(parents=True)
    text = SHIPPED.read_text()
    text = text.replace("served_name: smollm2-135m-instruct", "served_name: tiny-cli")
    text = text.replace("port: 8000", "port: 0").replace(
        "max_model_len: 8192", "max_model_len: 512"
    )
    assert "served_name: tiny-cli" in text and "port: 0" in text
    (profiles / "tiny.yaml").write_text(text)


def test_launch_detached_announce_list_and_stop(
    cli: Any,
    vllm_python: Path,
    smollm2_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    _isolated_state: Path,
) -> None:
    write_profile(tmp_path)
    monkeypatch.setenv("LLMOPS_VLLM_PYTHON", str(vllm_python))
    announced = _isolated_state / "upstreams" / "tiny-cli.json"
    pid = None
    try:
        result = cli("vllm", "launch", "tiny", "--detach", "--timeout", "300", cwd=tmp_path)
        assert result.exit_code == 0, result.stderr + result.stdout
        assert "healthy at http://127.0.0.1:" in result.stdout
        record = json.loads(announced.read_text())
        pid = record["pid"]
        assert record["model"] == "tiny-cli" and pid_alive(pid)
        with httpx.Client() as h:
            assert h.get(record["health_url"]).status_code == 200
            assert h.get(record["base_url"] + "/models").json()["data"][0]["id"] == "tiny-cli"

        listed = cli("vllm", "list", "--json", cwd=tmp_path)
        assert listed.exit_code == 0
        (up,) = json.loads(listed.stdout)["upstreams"]
        assert up["name"] == "tiny-cli" and up["alive"] is True

        stopped = cli("vllm", "stop", "tiny-cli", cwd=tmp_path)
        assert stopped.exit_code == 0, stopped.stderr
        assert not announced.exists()
        assert not pid_alive(pid)
    finally:
        if pid is not None and pid_alive(pid):
            from llmops.vllm.launcher import stop_process_group

            stop_process_group(pid, timeout=10)


def test_launch_in_the_foreground_stops_the_server_on_sigterm(
    vllm_python: Path, smollm2_dir: Path, tmp_path: Path, _isolated_state: Path
) -> None:
    write_profile(tmp_path)
    env = {
        **os.environ,
        "LLMOPS_VLLM_PYTHON": str(vllm_python),
        "LLMOPS_HOME": str(_isolated_state),
    }
    cmd = [sys.executable, "-m", "llmops", "vllm", "launch", "tiny", "--timeout", "300"]
    cli = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    announced = _isolated_state / "upstreams" / "tiny-cli.json"
    pid = None
    try:
        assert cli.stdout is not None
        first = cli.stdout.readline()
        assert "healthy at http://127.0.0.1:" in first, first
        record = json.loads(announced.read_text())
        pid = record["pid"]
        with httpx.Client() as h:
            assert h.get(record["health_url"]).status_code == 200
        cli.send_signal(signal.SIGTERM)
        assert cli.wait(timeout=60) == 0
        rest = cli.stdout.read()
        assert "stopped" in rest
        assert not announced.exists()
        assert not pid_alive(pid)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        if pid is not None and pid_alive(pid):
            from llmops.vllm.launcher import stop_process_group

            stop_process_group(pid, timeout=10)
