"""Re-run an eval suite on the drifted slice: the golden records today's traffic is about.

Each embedded query of the window is matched to its nearest golden question; the records hit
most are the slice (``slice_size`` of them). The slice is written as a golden-set file under
``<state>/monitor/slices/`` and the suite runs on it in-process without its baseline gate (a
slice's means are not the whole set's); the result lists the metric means and the records.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from llmops.atomic import atomic_write_text

if TYPE_CHECKING:
    from llmops.monitor.actions import ActionContext
    from llmops.monitor.settings import ActionSpec

__all__ = ["run_slice"]


def run_slice(spec: ActionSpec, ctx: ActionContext) -> dict[str, Any]:
    """Run ``spec.suite`` on the golden records nearest to the window's queries."""
    import numpy as np

    from llmops.embeddings import get_embedder
    from llmops.errors import StateError
    from llmops.evals import load_suite, run_suite
    from llmops.evals.golden import load_golden_sets
    from llmops.monitor.queries import window_vectors

    settings = ctx.settings
    path = settings.root / (spec.suite or "")
    suite = load_suite(path, settings.root)
    golden = load_golden_sets(suite.dataset_files)
    queries, _ = window_vectors(ctx.store, ctx.window, ctx.route, 2000)
    if queries is None or not golden.records:
        raise StateError(
            f"no embedded queries on route {ctx.route} in the window to choose a slice from",
            hint="the scorer embeds queries: run llmops monitor watch (or monitor score)",
        )
    questions = [r.question for r in golden.records]
    vectors = get_embedder(settings.embedding.model).encode(questions, batch_size=64)
    nearest = np.argmax(queries @ vectors.T, axis=1)
    hits = np.bincount(nearest, minlength=len(questions))
    order = [int(i) for i in np.argsort(-hits, kind="stable") if hits[i] > 0][: spec.slice_size]
    records = [golden.records[i] for i in order]
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(ctx.clock()))
    slice_file = settings.state_path / "monitor" / "slices" / f"{suite.suite_name}-{stamp}.jsonl"
    atomic_write_text(
        slice_file,
        "".join(
            json.dumps(r.model_dump(mode="json", exclude_defaults=True)) + "\n" for r in records
        ),
    )
    sliced = suite.model_copy(update={"dataset": str(slice_file), "limit": None})
    sliced._path, sliced._root = suite._path, suite._root  # noqa: SLF001 - same suite, new data
    result = run_suite(sliced, settings, use_baseline=False)
    return {
        "suite": suite.suite_name,
        "slice_file": str(slice_file),
        "records": [r.id for r in records],
        "queries_matched": int(hits.sum()),
        "passed": result.passed,
        "metrics": {m.name: m.mean for m in result.metrics},
    }
