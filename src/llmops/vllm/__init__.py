"""vLLM tooling: launch profiles (serving/vllm/*.yaml), the server command, launching a server
and announcing it to the gateway under ``<state>/upstreams/``, and the packaged GGUF models
(SmolLM2) turned into folders vLLM serves."""

from llmops.vllm.gguf_model import GgufModel, prepare_gguf
from llmops.vllm.launcher import VllmServer, check_vllm_python, launch, resolve_python
from llmops.vllm.profile import VllmProfile, build_command, find_profile, load_profile
from llmops.vllm.upstreams import UpstreamRecord, list_upstreams, register_upstream

__all__ = [
    "GgufModel",
    "UpstreamRecord",
    "VllmProfile",
    "VllmServer",
    "build_command",
    "check_vllm_python",
    "find_profile",
    "launch",
    "list_upstreams",
    "load_profile",
    "prepare_gguf",
    "register_upstream",
    "resolve_python",
]
