"""Importing llmops switches every library's network use and telemetry off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from llmops import offline


def test_switches_are_set_in_a_fresh_process() -> None:
    env = {k: v for k, v in os.environ.items() if k not in offline.OFFLINE_ENV}
    env.pop("NLTK_DATA", None)
    env.pop("TIKTOKEN_CACHE_DIR", None)
    code = (
        "import os, json, llmops; print(json.dumps({k: os.environ.get(k) for k in "
        "['HF_HUB_OFFLINE','RAGAS_DO_NOT_TRACK','MLFLOW_DISABLE_TELEMETRY',"
        "'LITELLM_LOCAL_MODEL_COST_MAP','TIKTOKEN_CACHE_DIR','NLTK_DATA']}))"
    )
    import json

    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    values = json.loads(out.stdout)
    assert values["HF_HUB_OFFLINE"] == "1"
    assert values["RAGAS_DO_NOT_TRACK"] == "true"
    assert values["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert values["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    cache = Path(values["TIKTOKEN_CACHE_DIR"])
    assert cache.is_dir() and any(cache.iterdir())
    paths = values["NLTK_DATA"].split(os.pathsep)
    assert any((Path(p) / "tokenizers" / "punkt").is_dir() for p in paths)
    assert any((Path(p) / "corpora" / "stopwords").is_dir() for p in paths)


def test_operator_values_win() -> None:
    env = {"HF_HUB_OFFLINE": "0"}
    offline.apply(env)
    assert env["HF_HUB_OFFLINE"] == "0"
    assert env["RAGAS_DO_NOT_TRACK"] == "true"
