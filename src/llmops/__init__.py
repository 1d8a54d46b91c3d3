"""llmops: take LLM applications from a notebook to production and keep them honest there.

Importing llmops is cheap: it sets the offline/no-telemetry switches (``llmops.offline``) and
nothing else. The public names below load their modules on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmops import offline as _offline
from llmops.lazy import lazy_names as _lazy_names

_offline.apply()

__version__ = "0.1.0"

# public name -> module that defines it (loaded on first attribute access)
_LAZY: dict[str, str] = {
    "LLMOpsError": "llmops.errors",
    "ConfigError": "llmops.errors",
    "UsageError": "llmops.errors",
    "NotFoundError": "llmops.errors",
    "StateError": "llmops.errors",
    "CheckFailedError": "llmops.errors",
    "UpstreamError": "llmops.errors",
    "GuardrailBlockedError": "llmops.errors",
    "Settings": "llmops.config",
    "load_settings": "llmops.config",
    "Lineage": "llmops.lineage",
    "PromptLineage": "llmops.lineage",
    "IndexLineage": "llmops.lineage",
    "JudgeLineage": "llmops.lineage",
    "get_embedder": "llmops.embeddings",
    "load_registry": "llmops.prompts",
    "PromptRegistry": "llmops.prompts",
    "RenderedPrompt": "llmops.prompts",
    "Pipeline": "llmops.rag",
    "Retriever": "llmops.rag",
    "GuardPipeline": "llmops.guards",
    "GatewayServer": "llmops.gateway",
    "TraceStore": "llmops.traces",
    "EvalRunner": "llmops.evals",
    "ScriptedLLMServer": "llmops.testing",
    "create_provider": "llmops.providers",
}

__all__ = ["__version__", *sorted(_LAZY)]

if TYPE_CHECKING:  # pragma: no cover
    from llmops.config import Settings as Settings
    from llmops.config import load_settings as load_settings
    from llmops.embeddings import get_embedder as get_embedder
    from llmops.errors import (
        CheckFailedError as CheckFailedError,
    )
    from llmops.errors import (
        ConfigError as ConfigError,
    )
    from llmops.errors import (
        GuardrailBlockedError as GuardrailBlockedError,
    )
    from llmops.errors import (
        LLMOpsError as LLMOpsError,
    )
    from llmops.errors import (
        NotFoundError as NotFoundError,
    )
    from llmops.errors import (
        StateError as StateError,
    )
    from llmops.errors import (
        UpstreamError as UpstreamError,
    )
    from llmops.errors import (
        UsageError as UsageError,
    )
    from llmops.evals import EvalRunner as EvalRunner
    from llmops.gateway import GatewayServer as GatewayServer
    from llmops.guards import GuardPipeline as GuardPipeline
    from llmops.lineage import (
        IndexLineage as IndexLineage,
    )
    from llmops.lineage import (
        JudgeLineage as JudgeLineage,
    )
    from llmops.lineage import (
        Lineage as Lineage,
    )
    from llmops.lineage import (
        PromptLineage as PromptLineage,
    )
    from llmops.prompts import PromptRegistry as PromptRegistry
    from llmops.prompts import RenderedPrompt as RenderedPrompt
    from llmops.prompts import load_registry as load_registry
    from llmops.providers import create_provider as create_provider
    from llmops.rag import Pipeline as Pipeline
    from llmops.rag import Retriever as Retriever
    from llmops.testing import ScriptedLLMServer as ScriptedLLMServer
    from llmops.traces import TraceStore as TraceStore


__getattr__ = _lazy_names(__name__, _LAZY, globals())
