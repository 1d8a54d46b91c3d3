"""`llmops vllm command/launch/list/stop/schema` without a vLLM server (errors, bookkeeping)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmops.errors import StateError
from llmops.vllm.launcher import VllmServer, launch
from llmops.vllm.profile import VllmProfile, load_profile, shell_command
from llmops.vllm.schema import profile_schema
from llmops.vllm.upstreams import (
    UpstreamRecord,
    list_upstreams,
    pid_alive,
    register_upstream,
    unregister_upstream,
    upstream_file,
)

PROFILE = "model: org/tiny\nserved_name: tiny\nport: 8123\nmax_model_len: 512\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "serving" / "vllm"
    folder.mkdir(parents=True)
    (folder / "tiny.yaml").write_text(PROFILE)
    return tmp_path


def record(name: str, pid: int | None) -> UpstreamRecord:
    return UpstreamRecord(
        name=name,
        base_url="http://127.0.0.1:1/v1",
        model=name,
        health_url="http://127.0.0.1:1/health",
        pid=pid,
        started_at="2026-11-26T08:00:00+00:00",
    )


def test_command_prints_the_shell_line(cli: Any, project: Path) -> None:
    result = cli("vllm", "command", "tiny", cwd=project)
    assert result.exit_code == 0
    expected = shell_command(load_profile(project / "serving/vllm/tiny.yaml"), "python")
    assert result.stdout.strip() == expected


def test_command_json_uses_the_configured_python(
    cli: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMOPS_VLLM_PYTHON", "/opt/vllm/bin/python")
    result = cli("vllm", "command", "tiny", "--json", cwd=project)
    argv = json.loads(result.stdout)["argv"]
    assert argv[0] == "/opt/vllm/bin/python"
    assert argv[argv.index("--port") + 1] == "8123"
    override = cli("vllm", "command", "tiny", "--json", "--python", "py3", cwd=project)
    assert json.loads(override.stdout)["argv"][0] == "py3"


def test_unknown_profile_is_a_usage_error(cli: Any, project: Path) -> None:
    result = cli("vllm", "command", "tiny2", cwd=project)
    assert result.exit_code == 2
    assert "no vLLM profile 'tiny2'" in result.stderr


def test_launch_with_missing_interpreter_is_a_clear_error(
    cli: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMOPS_VLLM_PYTHON", str(project / "no" / "python"))
    result = cli("vllm", "launch", "tiny", cwd=project)
    assert result.exit_code == 2
    assert "does not exist" in result.stderr and "LLMOPS_VLLM_PYTHON" in result.stderr


def test_launch_without_vllm_installed_is_a_clear_error(
    cli: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test venv itself has no vLLM (it lives in .venv-vllm).
    monkeypatch.setenv("LLMOPS_VLLM_PYTHON", sys.executable)
    result = cli("vllm", "launch", "tiny", cwd=project)
    assert result.exit_code == 2
    assert "vLLM is not installed" in result.stderr
    assert "scripts/setup_vllm_cpu.sh" in result.stderr


def test_server_that_dies_reports_its_log_and_is_not_announced(
    tmp_path: Path, _isolated_state: Path
) -> None:
    # The right module name under an interpreter without vLLM: the process starts, then exits.
    server = VllmServer(VllmProfile(model="m", port=0), sys.executable, tmp_path / "v.log")
    server.start()
    with pytest.raises(StateError) as info:
        server.wait_healthy(timeout=60)
    assert "exited with code 1" in str(info.value)
    assert "No module named 'vllm'" in str(info.value)
    assert list_upstreams(_isolated_state) == []


def test_launch_checks_before_starting(tmp_path: Path) -> None:
    from llmops.errors import ConfigError

    with pytest.raises(ConfigError):
        launch(VllmProfile(model="m"), tmp_path, python=sys.executable)
    assert not (tmp_path / "upstreams").exists()


def test_stop_terminates_a_detached_server_and_withdraws_it(
    cli: Any, project: Path, _isolated_state: Path
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
    )
    try:
        register_upstream(_isolated_state, record("org/served", proc.pid))
        listed = json.loads(cli("vllm", "list", "--json", cwd=project).stdout)
        assert listed["upstreams"][0]["alive"] is True
        assert listed["profiles"][0]["name"] == "tiny"
        result = cli("vllm", "stop", "org/served", cwd=project)
        assert result.exit_code == 0, result.stderr
        proc.wait(timeout=10)  # returns at once: the process is gone (reaped by the stop)
        assert not pid_alive(proc.pid)
        assert list_upstreams(_isolated_state) == []
    finally:
        proc.kill()
        proc.wait()


def test_stop_unknown_upstream(cli: Any, project: Path) -> None:
    result = cli("vllm", "stop", "nothing", cwd=project)
    assert result.exit_code == 2
    assert "no launched upstream 'nothing'" in result.stderr


def test_schema_command(cli: Any, project: Path) -> None:
    result = cli("vllm", "schema", cwd=project)
    assert json.loads(result.stdout) == profile_schema()


def test_announcements_round_trip(tmp_path: Path) -> None:
    path = register_upstream(tmp_path, record("Qwen/Qwen2.5-7B", None))
    assert path == upstream_file(tmp_path, "Qwen/Qwen2.5-7B")
    assert path.name == "Qwen--Qwen2.5-7B.json"
    assert [r.name for r in list_upstreams(tmp_path)] == ["Qwen/Qwen2.5-7B"]
    assert unregister_upstream(tmp_path, "Qwen/Qwen2.5-7B") is True
    assert unregister_upstream(tmp_path, "Qwen/Qwen2.5-7B") is False


def test_broken_announcement_is_a_state_error(tmp_path: Path) -> None:
    (tmp_path / "upstreams").mkdir()
    (tmp_path / "upstreams" / "x.json").write_text("{not json")
    with pytest.raises(StateError) as info:
        list_upstreams(tmp_path)
    assert info.value.file is not None and str(info.value.file).endswith("x.json")


def test_pid_alive() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert pid_alive(None) is False
    assert pid_alive(proc.pid) is False
    import os

    assert pid_alive(os.getpid()) is True


def test_missing_vllm_venv_fails_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops.testing.vllm import find_vllm_python

    monkeypatch.setenv("LLMOPS_VLLM_PYTHON", "/nonexistent/python")
    with pytest.raises(StateError) as info:
        find_vllm_python()
    assert info.value.hint is not None and "setup_vllm_cpu.sh" in info.value.hint


def test_scaffolded_project_has_a_valid_profile(cli: Any, tmp_path: Path) -> None:
    assert cli("init", str(tmp_path / "proj")).exit_code == 0
    project = tmp_path / "proj"
    result = cli("vllm", "command", "example", "--json", cwd=project)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["argv"][2] == "vllm.entrypoints.openai.api_server"
    listed = json.loads(cli("vllm", "list", "--json", cwd=project).stdout)
    assert [p["name"] for p in listed["profiles"]] == ["example"]


def test_vllm_package_exports() -> None:
    import llmops.vllm

    for name in llmops.vllm.__all__:
        assert getattr(llmops.vllm, name).__module__.startswith("llmops.vllm")
