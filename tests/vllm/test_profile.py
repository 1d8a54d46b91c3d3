"""vLLM launch profiles: validation with file:line errors, the exact command, the schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops.errors import ConfigError, NotFoundError
from llmops.vllm.profile import (
    SERVER_MODULE,
    VllmProfile,
    build_command,
    find_profile,
    list_profiles,
    load_profile,
    shell_command,
)
from llmops.vllm.schema import SCHEMA_PATH, schema_text

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", list_profiles(REPO / "serving" / "vllm"), ids=lambda p: p.name)
def test_shipped_profiles_validate(path: Path) -> None:
    profile = load_profile(path)
    argv = build_command(profile)
    assert argv[:3] == ["python", "-m", SERVER_MODULE]
    assert argv[argv.index("--served-model-name") + 1] == profile.served


def test_shipped_profiles_exist() -> None:
    assert len(list_profiles(REPO / "serving" / "vllm")) >= 2


def test_command_is_exact(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "model: org/model\nserved_name: m\nport: 9000\ntensor_parallel_size: 2\n"
        "max_model_len: 4096\ngpu_memory_utilization: 0.8\ndtype: bfloat16\n"
        "max_num_seqs: 64\nkv_cache_memory_bytes: 1073741824\nenforce_eager: true\n"
        "extra_args: [--enable-prefix-caching, --block-size, '16']\n",
    )
    assert build_command(load_profile(path), "/opt/vllm/bin/python") == [
        "/opt/vllm/bin/python",
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        "org/model",
        "--served-model-name",
        "m",
        "--host",
        "127.0.0.1",
        "--port",
        "9000",
        "--tensor-parallel-size",
        "2",
        "--max-model-len",
        "4096",
        "--gpu-memory-utilization",
        "0.8",
        "--dtype",
        "bfloat16",
        "--kv-cache-memory-bytes",
        "1073741824",
        "--max-num-seqs",
        "64",
        "--enforce-eager",
        "--enable-prefix-caching",
        "--block-size",
        "16",
    ]


def test_defaults_and_served_name_fallback() -> None:
    profile = VllmProfile(model="org/model")
    argv = build_command(profile)
    assert argv[argv.index("--served-model-name") + 1] == "org/model"
    assert "--max-model-len" not in argv and "--chat-template" not in argv
    assert argv[argv.index("--dtype") + 1] == "auto"


def test_relative_paths_resolve_next_to_the_profile(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    (tmp_path / "chat.jinja").write_text("{{ messages }}")
    profile = load_profile(write(tmp_path, "model: weights\nchat_template: chat.jinja\n"))
    argv = build_command(profile)
    assert argv[argv.index("--model") + 1] == str((tmp_path / "weights").resolve())
    assert argv[argv.index("--chat-template") + 1] == str((tmp_path / "chat.jinja").resolve())


def test_shell_command_keeps_the_key_out_of_argv(tmp_path: Path) -> None:
    profile = load_profile(
        write(tmp_path, "model: m\napi_key_env: MY_KEY\nenv: {A: 'x y'}\n", name="k.yaml")
    )
    line = shell_command(profile)
    assert line.startswith("A='x y' VLLM_API_KEY=\"$MY_KEY\" python -m ")
    assert "--api-key" not in line


@pytest.mark.parametrize(
    ("text", "needle", "line"),
    [
        ("model: m\ntensor_paralel_size: 2\n", "tensor_parallel_size", 2),
        ("model: m\nport: 70000\n", "port", 2),
        ("model: m\ndtype: fp8\n", "dtype", 2),
        ("model: m\ngpu_memory_utilization: 1.5\n", "gpu_memory_utilization", 2),
        ("model: m\nextra_args: [--port, '9']\n", "use that", 2),
        ("model: m\napi_key_env: 'not a var'\n", "api_key_env", 2),
        ("served_name: x\n", "model", 1),
    ],
)
def test_bad_profiles_name_file_line_and_key(
    tmp_path: Path, text: str, needle: str, line: int
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    assert needle in str(info.value) or needle == info.value.key
    assert info.value.file is not None and Path(info.value.file).name == "p.yaml"
    assert info.value.line == line


def test_find_profile_by_name_or_path(tmp_path: Path) -> None:
    path = write(tmp_path, "model: m\n", name="small.yaml")
    assert find_profile("small", tmp_path) == path
    assert find_profile(str(path), tmp_path / "elsewhere") == path
    with pytest.raises(NotFoundError) as info:
        find_profile("smal", tmp_path)
    assert "did you mean 'small'" in str(info.value)


def test_shipped_schema_is_up_to_date() -> None:
    assert SCHEMA_PATH.read_text() == schema_text()
    schema = json.loads(schema_text())
    assert schema["additionalProperties"] is False
    assert "tensor_parallel_size" in schema["properties"]
