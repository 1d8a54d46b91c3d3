"""vLLM launch profiles: ``serving/vllm/<name>.yaml`` -> the exact server command.

A profile names the model and the handful of engine settings people actually change; anything
else goes to ``extra_args`` verbatim. Relative paths (a local model folder, a chat template) are
resolved against the profile file's folder, as compose files do.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from llmops.errors import NotFoundError

GGUF_SCHEME = "gguf:"

__all__ = [
    "MANAGED_FLAGS",
    "SERVER_MODULE",
    "VllmProfile",
    "build_command",
    "find_profile",
    "list_profiles",
    "load_profile",
    "shell_command",
]

SERVER_MODULE = "vllm.entrypoints.openai.api_server"

# Flags the profile's own keys produce; repeating them in extra_args would be ambiguous.
MANAGED_FLAGS = {
    "--model": "model",
    "--served-model-name": "served_name",
    "--host": "host",
    "--port": "port",
    "--tensor-parallel-size": "tensor_parallel_size",
    "-tp": "tensor_parallel_size",
    "--max-model-len": "max_model_len",
    "--gpu-memory-utilization": "gpu_memory_utilization",
    "--dtype": "dtype",
    "--chat-template": "chat_template",
    "--api-key": "api_key_env",
    "--enforce-eager": "enforce_eager",
    "--kv-cache-memory-bytes": "kv_cache_memory_bytes",
    "--max-num-seqs": "max_num_seqs",
}


class VllmProfile(BaseModel):
    """One way to run a vLLM OpenAI-compatible server (a file in serving/vllm/)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        description="Hugging Face model id, a local folder (relative to this file), or "
        "gguf:<name> for a GGUF model shipped in a Python package (e.g. gguf:smollm2), converted "
        "once per machine into llmops' cache"
    )
    served_name: str | None = Field(
        None, description="model id clients and the gateway use; default: the model"
    )
    host: str = Field("127.0.0.1", description="listen address (0.0.0.0 in containers)")
    port: int = Field(8000, ge=0, le=65535, description="listen port; 0 picks a free one")
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs the model is sharded over")
    max_model_len: int | None = Field(
        None, ge=16, description="context length; default: the model's"
    )
    gpu_memory_utilization: float = Field(
        0.9, gt=0, le=1, description="share of GPU memory (CPU build: of RAM) vLLM may use"
    )
    dtype: Literal["auto", "half", "float16", "bfloat16", "float", "float32"] = Field(
        "auto", description="weight and activation dtype"
    )
    enforce_eager: bool = Field(
        False, description="skip graph compilation: much faster start, somewhat slower decoding"
    )
    kv_cache_memory_bytes: int | None = Field(
        None, ge=1 << 20, description="fixed KV cache size in bytes (overrides the utilisation)"
    )
    max_num_seqs: int | None = Field(None, ge=1, description="sequences decoded together")
    chat_template: str | None = Field(
        None, description="Jinja chat template file (relative to this file)"
    )
    api_key_env: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="env var holding the key clients must send; passed to vLLM as VLLM_API_KEY "
        "so it never appears on the command line",
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="extra environment for the server process"
    )
    extra_args: list[str] = Field(
        default_factory=list, description="further vllm arguments, passed verbatim"
    )

    _path: Path | None = PrivateAttr(None)

    @field_validator("extra_args")
    @classmethod
    def _no_managed_flags(cls, value: list[str]) -> list[str]:
        for arg in value:
            flag = arg.split("=", 1)[0]
            if flag in MANAGED_FLAGS:
                raise ValueError(f"'{flag}' is set by the key '{MANAGED_FLAGS[flag]}'; use that")
        return value

    @property
    def name(self) -> str:
        """Return the profile's name (its file stem), or the served name if not from a file."""
        return self._path.stem if self._path is not None else self.served

    @property
    def path(self) -> Path | None:
        """Return the file this profile was loaded from."""
        return self._path

    @property
    def served(self) -> str:
        """Return the model id the server answers to."""
        if self.served_name:
            return self.served_name
        if self.model.startswith(GGUF_SCHEME):
            from llmops.vllm.gguf_model import gguf_model

            return gguf_model(self.model.removeprefix(GGUF_SCHEME)).served_name
        return self.model

    def model_path(self) -> str:
        """Return what vLLM loads: a gguf:<name> model's prepared folder (made on first use)."""
        if self.model.startswith(GGUF_SCHEME):
            from llmops.vllm.gguf_model import prepare_gguf

            return str(prepare_gguf(self.model.removeprefix(GGUF_SCHEME)))
        return self.resolve(self.model)

    def resolve(self, value: str) -> str:
        """Return ``value`` as an absolute path when it names a file next to the profile."""
        base = self._path.parent if self._path is not None else Path.cwd()
        candidate = Path(value).expanduser()
        if not candidate.is_absolute():
            candidate = base / candidate
        return str(candidate.resolve()) if candidate.exists() else value


def load_profile(path: str | Path) -> VllmProfile:
    """Load and validate a profile file (errors name the file, line and key)."""
    from llmops.validation import load_yaml_model

    path = Path(path)
    profile = load_yaml_model(path, VllmProfile)
    profile._path = path.resolve()
    return profile


def list_profiles(folder: Path) -> list[Path]:
    """Return the profile files in ``folder`` (serving/vllm), sorted."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def find_profile(name_or_path: str, folder: Path) -> Path:
    """Return the profile file for a name (``serving/vllm/<name>.yaml``) or a path."""
    direct = Path(name_or_path).expanduser()
    if direct.suffix in (".yaml", ".yml") and direct.is_file():
        return direct
    for suffix in (".yaml", ".yml"):
        candidate = folder / f"{name_or_path}{suffix}"
        if candidate.is_file():
            return candidate
    from llmops.suggest import suggestion

    known = [p.stem for p in list_profiles(folder)]
    raise NotFoundError(
        f"no vLLM profile '{name_or_path}'" + suggestion(name_or_path, known),
        hint=f"profiles live in {folder}: {', '.join(known) or 'none yet'}; "
        "or pass the path of a profile file",
    )


def build_command(
    profile: VllmProfile, python: str = "python", port: int | None = None
) -> list[str]:
    """Return the argv that starts vLLM's OpenAI-compatible server for ``profile``."""
    argv = [python, "-m", SERVER_MODULE, "--model", profile.model_path()]
    argv += ["--served-model-name", profile.served]
    argv += ["--host", profile.host, "--port", str(profile.port if port is None else port)]
    argv += ["--tensor-parallel-size", str(profile.tensor_parallel_size)]
    if profile.max_model_len is not None:
        argv += ["--max-model-len", str(profile.max_model_len)]
    argv += ["--gpu-memory-utilization", str(profile.gpu_memory_utilization)]
    argv += ["--dtype", profile.dtype]
    if profile.kv_cache_memory_bytes is not None:
        argv += ["--kv-cache-memory-bytes", str(profile.kv_cache_memory_bytes)]
    if profile.max_num_seqs is not None:
        argv += ["--max-num-seqs", str(profile.max_num_seqs)]
    if profile.enforce_eager:
        argv.append("--enforce-eager")
    if profile.chat_template is not None:
        argv += ["--chat-template", profile.resolve(profile.chat_template)]
    return argv + list(profile.extra_args)


def shell_command(profile: VllmProfile, python: str = "python") -> str:
    """Return the command as one line to paste into a shell (environment first)."""
    parts = [f"{k}={shlex.quote(v)}" for k, v in profile.env.items()]
    if profile.api_key_env:
        parts.append(f'VLLM_API_KEY="${profile.api_key_env}"')
    prefix = " ".join(parts)
    line = shlex.join(build_command(profile, python))
    return f"{prefix} {line}" if prefix else line
