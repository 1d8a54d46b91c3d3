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
    # one folder: llama-index reads NLTK_DATA as a single path
    assert (Path(values["NLTK_DATA"]) / "corpora" / "stopwords").is_dir()


def test_guardrails_imports_without_trying_to_download() -> None:
    code = (
        "import llmops, nltk\n"
        "from llmops.offline import configure_guardrails\n"
        "def refuse(*a, **k):\n"
        "    raise SystemExit('nltk.download called')\n"
        "nltk.download = refuse\n"
        "configure_guardrails()\n"
        "import guardrails\n"
        "from llama_index.core.node_parser import SentenceSplitter\n"
        "SentenceSplitter(chunk_size=64, chunk_overlap=8).split_text('One sentence. Another one here.')\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


def test_operator_values_win() -> None:
    env = {"HF_HUB_OFFLINE": "0"}
    offline.apply(env)
    assert env["HF_HUB_OFFLINE"] == "0"
    assert env["RAGAS_DO_NOT_TRACK"] == "true"
