"""The gateway's public API is curated and importing it stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import llmops.gateway


def test_all_is_exact() -> None:
    # The public names load on first access: resolve them all, so the check does not depend
    # on which earlier test touched them (alone, it saw none of them).
    for name in llmops.gateway.__all__:
        getattr(llmops.gateway, name)
    public = {
        n
        for n, v in vars(llmops.gateway).items()
        if not n.startswith("_") and getattr(v, "__module__", "").startswith("llmops")
    }
    assert set(llmops.gateway.__all__) == public


def test_import_loads_no_heavy_library() -> None:
    heavy = [
        "torch",
        "numpy",
        "openai",
        "qdrant_client",
        "mlflow",
        "pandas",
        "sentence_transformers",
    ]
    code = (
        f"import sys, json, llmops.gateway; "
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
