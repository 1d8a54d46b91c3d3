"""What a run is about to spend, counted before any call, and what would make its answers stale.

``Preflight`` counts the model calls, tokens and cost of a planned run; ``budget_overruns``
compares it with the suite's budget. ``stale_indexes`` finds a served index built from another
version of its pipeline file than the one on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmops.errors import LLMOpsError
from llmops.evals.records import Preflight
from llmops.evals.targets import RetrievingTarget, Target

if TYPE_CHECKING:
    from llmops.evals.suite import BudgetSpec

__all__ = ["Preflight", "StaleIndex", "budget_overruns", "stale_indexes"]


def budget_overruns(pre: Preflight, budget: BudgetSpec) -> list[str]:
    """Return one line per budget limit that ``pre`` exceeds (empty when within budget)."""
    over = []
    if budget.max_calls is not None and pre.model_calls > budget.max_calls:
        over.append(f"{pre.model_calls} model calls > budget.max_calls {budget.max_calls}")
    if budget.max_tokens is not None and pre.est_tokens > budget.max_tokens:
        over.append(f"~{pre.est_tokens} tokens > budget.max_tokens {budget.max_tokens}")
    if budget.max_cost is not None and pre.est_cost > budget.max_cost:
        over.append(f"~${pre.est_cost:.4f} > budget.max_cost ${budget.max_cost:.4f}")
    return over


@dataclass
class StaleIndex:
    """A served index built from another version of its pipeline file than the one on disk."""

    pipeline: str
    served_version: str
    served_hash: str
    file_hash: str
    file: str | None

    def describe(self) -> str:
        """Return a one-line warning with the fix."""
        return (
            f"the served index of '{self.pipeline}' ({self.served_version}) was built from "
            f"another version of {self.file or 'its pipeline file'} (pipeline hash "
            f"{self.served_hash}, the file now hashes to {self.file_hash}): answers, cached or "
            f"not, come from the old index; rebuild it with `llmops index run {self.pipeline}`"
        )


def stale_indexes(target: Target) -> list[StaleIndex]:
    """Return the indexes ``target`` retrieves from whose pipeline file changed since build.

    Cached answers are keyed by the retrieved contexts, so a run against a stale index would
    reuse them and pass as if the pipeline change had been evaluated.
    """
    if not isinstance(target, RetrievingTarget) or target.retriever is None:
        return []
    retriever = target.retriever
    try:
        served = retriever.served_lineage()
    except LLMOpsError:  # nothing served: the run's own retrieval reports it
        return []
    now = retriever.pipeline.pipeline_hash
    if served.pipeline_hash == now:
        return []
    path = retriever.pipeline.path
    return [
        StaleIndex(
            pipeline=served.pipeline,
            served_version=served.index_version,
            served_hash=served.pipeline_hash,
            file_hash=now,
            file=str(path) if path is not None else None,
        )
    ]
