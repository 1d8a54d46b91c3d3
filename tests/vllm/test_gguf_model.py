"""The packaged GGUF model made once: content-keyed machine-wide folder, clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmops.errors import NotFoundError, StateError
from llmops.vllm import gguf_model as gm
from llmops.vllm.profile import VllmProfile, build_command


def test_prepared_folder_is_what_vllm_serves(smollm2_dir: Path) -> None:
    model = gm.gguf_model("smollm2")
    gguf = gm.find_gguf(model)
    digest = gm.file_sha256(gguf)
    # keyed by the GGUF's content and the converter version, in the machine-wide cache
    assert smollm2_dir.name == gm.cache_key(digest) and smollm2_dir.parent.name == gm.CACHE_KIND
    manifest = json.loads((smollm2_dir / "llmops-model.json").read_text())
    assert manifest["gguf_sha256"] == digest and manifest["converter_version"] == "1"
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in config
    assert config["max_position_embeddings"] == 8192
    assert (smollm2_dir / "model.safetensors").stat().st_size > 200e6  # 135M params in bf16
    template = (smollm2_dir / "chat_template.jinja").read_text()
    assert "<|im_start|>" in template  # the model's own chat template, from the GGUF


def test_second_prepare_reuses_the_entry(smollm2_dir: Path) -> None:
    weights = smollm2_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert gm.prepare_gguf("smollm2") == smollm2_dir
    assert weights.stat().st_mtime_ns == before


def test_profile_names_the_cached_folder(smollm2_dir: Path) -> None:
    profile = VllmProfile(model="gguf:smollm2", enforce_eager=True, kv_cache_memory_bytes=2**29)
    argv = build_command(profile)
    assert argv[argv.index("--model") + 1] == str(smollm2_dir)
    assert argv[argv.index("--served-model-name") + 1] == "smollm2-135m-instruct"
    assert argv[argv.index("--kv-cache-memory-bytes") + 1] == str(2**29)
    assert "--enforce-eager" in argv


def test_unknown_model_has_a_did_you_mean() -> None:
    with pytest.raises(NotFoundError, match=r"no GGUF model 'smollm' \(did you mean 'smollm2'\?\)"):
        gm.gguf_model("smollm")


def test_missing_package_names_what_to_install() -> None:
    absent = gm.GgufModel(
        name="x",
        requirement="llm-no-such-model==1.0",
        module="llm_no_such_model_pkg",
        filename="x.gguf",
        served_name="x",
    )
    with pytest.raises(StateError) as info:
        gm.find_gguf(absent)
    assert "'llm-no-such-model' is not installed" in info.value.message
    assert info.value.hint is not None and "pip install llm-no-such-model==1.0" in info.value.hint


@pytest.mark.parametrize("module", ["gguf", "accelerate"])
def test_missing_converter_names_what_to_install(
    module: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import importlib.util

    real = importlib.util.find_spec

    def hide(name: str, *args: Any) -> Any:
        return None if name == module else real(name, *args)

    monkeypatch.setattr(gm.importlib.util, "find_spec", hide)
    model = gm.gguf_model("smollm2")
    with pytest.raises(StateError) as info:
        gm.convert(model, gm.find_gguf(model), tmp_path)
    assert f"'{module}' is not installed" in info.value.message
    assert info.value.hint is not None and f"pip install {module}==" in info.value.hint
    assert list(tmp_path.iterdir()) == []


def test_cli_prepare_prints_the_folder(cli: Any, smollm2_dir: Path) -> None:
    result = cli("vllm", "prepare", "smollm2", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "model": "smollm2",
        "served_name": "smollm2-135m-instruct",
        "path": str(smollm2_dir),
    }
    unknown = cli("vllm", "prepare", "llama")
    assert unknown.exit_code == 2 and "no GGUF model 'llama'" in unknown.stderr
