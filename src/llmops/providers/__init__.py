"""Model providers: the OpenAI-compatible HTTP upstream (vLLM, OpenAI, ...) and the offline
extractive model, behind one small Protocol and a registry.

The package's surface is ``llmops.providers.base``'s: the contract, the registry and its helpers.
"""

from llmops.providers.base import *  # noqa: F403
from llmops.providers.base import __all__ as __all__
