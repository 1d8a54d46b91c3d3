"""Quality and speed of the offline extractive model on the golden set, and its threshold sweep.

Builds the ``python-docs`` index in a temporary state root (or uses ``--home``), retrieves k
passages per golden question, and runs the extractive model on them. For each abstain
threshold it reports the share of answerable questions answered with a correct source cited
and the share of unanswerable questions declined; the shipped default is marked. Prints ONE
JSON document.

    python benchmarks/bench_extractive.py                 # the whole golden set
    python benchmarks/bench_extractive.py --quick         # the first 20 questions
    python benchmarks/bench_extractive.py --home .llmops  # reuse a built index
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def source_matches(source: str, references: list[str]) -> bool:
    """Return whether a chunk's source is one of the reference sources (path suffix match)."""
    return any(
        source == r or source.endswith("/" + r) or r.endswith("/" + source) for r in references
    )


def collect(golden: Path, pipeline: str, k: int, limit: int | None) -> list[dict[str, Any]]:
    from llmops.config import load_settings
    from llmops.evals.golden import load_golden_set
    from llmops.providers.extractive import ExtractiveOptions, ExtractiveProvider
    from llmops.rag.pipeline import Pipeline
    from llmops.rag.retriever import Retriever

    settings = load_settings(REPO)
    pipe = Pipeline.from_name(pipeline, settings)
    if pipe.served() is None:
        pipe.run()
    retriever = Retriever(pipe)
    # Threshold 0 makes select() always pick, so the sweep sees every question's best support.
    provider = ExtractiveProvider(ExtractiveOptions(threshold=0.0))
    provider.embedder().encode(["warm up"])
    records = list(load_golden_set(golden).records)[:limit]
    rows = []
    for rec in records:
        t0 = time.perf_counter()
        result = retriever.retrieve(rec.question, k=k)
        t1 = time.perf_counter()
        by_id = {c.id: c.source for c in result.chunks}
        picked, support = provider.select(rec.question, result.contexts())
        t2 = time.perf_counter()
        rows.append(
            {
                "id": rec.id,
                "answerable": rec.answerable,
                "support": support,
                "cited": [by_id[s.context_id] for s in picked],
                "top_source": by_id[picked[0].context_id] if picked else None,
                "references": rec.reference_sources,
                "retrieved_right": any(
                    source_matches(c.source, rec.reference_sources) for c in result.chunks
                ),
                "retrieve_ms": (t1 - t0) * 1000,
                "answer_ms": (t2 - t1) * 1000,
            }
        )
    return rows


def sweep(rows: list[dict[str, Any]], thresholds: list[float]) -> list[dict[str, Any]]:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    out = []
    for t in thresholds:
        right = sum(
            1
            for r in answerable
            if r["support"] >= t and r["cited"] and source_matches(r["cited"][0], r["references"])
        )
        declined = sum(1 for r in unanswerable if r["support"] < t)
        out.append(
            {
                "threshold": round(t, 3),
                "answerable_right_source": round(right / max(1, len(answerable)), 3),
                "unanswerable_declined": round(declined / max(1, len(unanswerable)), 3),
            }
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--golden", default=str(REPO / "golden_sets" / "python-docs.jsonl"))
    parser.add_argument("--pipeline", default="python-docs")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--home", default=None, help="state root with a built index")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    home = args.home or tempfile.mkdtemp(prefix="bench-extractive-")
    os.environ["LLMOPS_HOME"] = str(Path(home).resolve())
    t0 = time.perf_counter()
    from llmops.providers.extractive import ExtractiveOptions

    default = ExtractiveOptions().threshold
    rows = collect(Path(args.golden), args.pipeline, args.k, 20 if args.quick else None)
    thresholds = [round(0.20 + 0.02 * i, 2) for i in range(21)]
    table = sweep(rows, thresholds)
    at_default = sweep(rows, [default])[0]
    answerable = [r for r in rows if r["answerable"]]
    doc = {
        "benchmark": "extractive",
        "golden_set": os.path.relpath(args.golden, REPO),
        "questions": len(rows),
        "answerable": len(answerable),
        "unanswerable": len(rows) - len(answerable),
        "k": args.k,
        "default_threshold": default,
        "at_default": at_default,
        "retrieval_hit_at_k": round(
            sum(r["retrieved_right"] for r in answerable) / max(1, len(answerable)), 3
        ),
        "answer_ms_p50": round(statistics.median(r["answer_ms"] for r in rows), 1),
        "retrieve_ms_p50": round(statistics.median(r["retrieve_ms"] for r in rows), 1),
        "sweep": table,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    json.dump(doc, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
