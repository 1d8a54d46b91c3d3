"""The one place that turns off every library's network use and telemetry.

``apply()`` runs when ``llmops`` is imported, before any heavy library is, and only sets
environment variables that are not already set, so an operator can still override each one.
It writes nothing and opens no connection.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

__all__ = [
    "OFFLINE_ENV",
    "PUNKT_STUB_DIR",
    "apply",
    "configure_guardrails",
    "nltk_data_path",
    "tiktoken_cache_dir",
]

#: Switches that hold for every process that imports llmops.
OFFLINE_ENV: dict[str, str] = {
    # Hugging Face: never reach the hub; models load from local paths only.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    # ragas, MLflow, litellm (pulled in by guardrails), deepeval, langchain tracing.
    "RAGAS_DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ASYNC_TRACE_LOGGING": "false",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    # MLflow's own INFO lines, run URLs and download bars would interleave with llmops' output.
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_TELEMETRY": "False",
    "DEEPEVAL_TELEMETRY_OPT_OUT": "YES",
    "LANGCHAIN_TRACING_V2": "false",
    "ANONYMIZED_TELEMETRY": "False",
    "DO_NOT_TRACK": "1",
    # Ray (executor: ray): no usage stats from drivers, nodes started from here, or workers.
    "RAY_USAGE_STATS_ENABLED": "0",
    # guardrails-ai: no hub, no remote inference; metrics are also switched off in code
    # (llmops.guards configures its settings before first use).
    "GUARDRAILS_PROCESS_COUNT": "1",
    # One BLAS thread: torch already uses both cores; a second pool oversubscribes them
    # (query p50 28 ms -> 12 ms on a 2-core machine, see ../shared/ENVIRONMENT.md).
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def _package_dir(name: str) -> Path | None:
    """Return the directory of an installed package without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def tiktoken_cache_dir() -> Path | None:
    """Return llama-index's bundled tiktoken cache (cl100k_base, o200k_base), if installed."""
    base = _package_dir("llama_index")
    path = base / "core" / "_static" / "tiktoken_cache" if base else None
    return path if path and path.is_dir() else None


def nltk_data_path() -> str | None:
    """Return llama-index's bundled NLTK data folder (stopwords, punkt_tab), if installed.

    It must be ONE folder: llama-index reads ``NLTK_DATA`` as a single path (nltk itself would
    accept a list). guardrails' ``tokenizers/punkt`` check is met separately, see
    ``configure_guardrails``.
    """
    base = _package_dir("llama_index")
    path = base / "core" / "_static" / "nltk_cache" if base else None
    return str(path) if path and path.is_dir() else None


PUNKT_STUB_DIR = Path(__file__).parent / "_data" / "nltk"


def apply(environ: dict[str, str] | None = None) -> None:
    """Set the offline and no-telemetry switches that are not already set."""
    env = os.environ if environ is None else environ
    for key, value in OFFLINE_ENV.items():
        env.setdefault(key, value)
    if "TIKTOKEN_CACHE_DIR" not in env:
        cache = tiktoken_cache_dir()
        if cache is not None:
            env["TIKTOKEN_CACHE_DIR"] = str(cache)
    if "NLTK_DATA" not in env:
        nltk_dir = nltk_data_path()
        if nltk_dir is not None:
            env["NLTK_DATA"] = nltk_dir


def configure_guardrails() -> None:
    """Switch guardrails-ai to local-only: no metrics, no remote inference, no hub token.

    Call before building a guardrails ``Guard`` or ``Validator`` (``llmops.guards`` does). The
    hub telemetry singleton is created disabled first, so nothing later can start the exporter.
    """
    # guardrails only checks that ``tokenizers/punkt`` exists (at import) before it would call
    # ``nltk.download``; llmops ships an empty one and puts it on nltk's path first.
    import nltk

    if str(PUNKT_STUB_DIR) not in nltk.data.path:
        nltk.data.path.append(str(PUNKT_STUB_DIR))

    from guardrails.settings import settings
    from guardrails.utils.hub_telemetry_utils import HubTelemetry

    rc = settings.rc
    rc.enable_metrics = False
    rc.use_remote_inferencing = False
    telemetry = HubTelemetry(enabled=False)
    telemetry._enabled = False
