"""Target kind ``recorded``: answers and contexts stored in the golden record itself.

For judging the judge: a reference-labelled set holds, per item, the answer under evaluation and
the contexts it was given (``vars.answer``, ``vars.contexts``), and human labels
(``labels.faithful``, ...). Running judge metrics over it needs no model behind the target, only
the judge; ``judge.min_kappa`` then fails the run when the judge disagrees with the labels::

    target: {type: recorded}
    metrics: [{type: judge-rag, metric: faithfulness, options: {label: faithful}}]
    judge: {min_kappa: 0.4}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmops.errors import ConfigError
from llmops.evals.golden import GoldenRecord
from llmops.evals.records import TargetOutput
from llmops.evals.targets import AS_WRITTEN, PreparedCall, Variant
from llmops.lineage import Lineage

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.evals.suite import TargetSpec

__all__ = ["RecordedTarget"]


def _contexts(record: GoldenRecord) -> list[dict[str, Any]]:
    given = record.vars.get("contexts")
    if given is None:
        given = [{"text": t} for t in record.reference_contexts]
    elif not isinstance(given, list) or not all(
        isinstance(c, dict) and isinstance(c.get("text"), str) for c in given
    ):
        raise ConfigError(
            f"record {record.id}: vars.contexts must be a list of {{id, text}} objects",
            key="vars.contexts",
        )
    # reports show each context's id and source
    return [
        {**c, "id": str(c.get("id") or f"c{i}"), "source": c.get("source")}
        for i, c in enumerate(given, 1)
    ]


class RecordedTarget:
    """Replays ``vars.answer`` with ``vars.contexts`` (or ``reference_contexts``)."""

    kind = "recorded"

    def __init__(self, spec: TargetSpec, settings: Settings) -> None:
        self.spec = spec
        self.model = spec.model or "recorded"

    def prepare(
        self,
        record: GoldenRecord,
        variant: Variant = AS_WRITTEN,
    ) -> PreparedCall:
        """Return the stored answer as the call (nothing is asked of any model)."""
        answer = record.vars.get("answer")
        if not isinstance(answer, str):
            raise ConfigError(
                f"record {record.id}: a recorded target needs vars.answer (a string)",
                key="vars.answer",
            )
        contexts = _contexts(record)
        if variant.reorder_contexts:
            contexts = list(reversed(contexts))
        question = variant.question or record.question
        return PreparedCall(
            question=question,
            messages=[{"role": "user", "content": question}],
            params={},
            contexts=contexts,
            material={"target": "recorded", "id": record.id, "answer": answer},
            lineage=Lineage(upstream=str(record.vars.get("model") or self.model)),
        )

    async def execute(self, call: PreparedCall) -> dict[str, Any]:
        """Return the stored answer."""
        return {"content": call.material["answer"], "model": call.lineage.upstream, "usage": {}}

    def output(self, call: PreparedCall, value: dict[str, Any], cached: bool) -> TargetOutput:
        """Build the TargetOutput with the stored contexts."""
        return TargetOutput(
            answer=str(value.get("content") or ""),
            contexts=call.contexts,
            cached=cached,
            lineage=call.lineage.model_copy(update={"upstream_model": value.get("model")}),
        )

    async def aclose(self) -> None:
        """Nothing to close."""
