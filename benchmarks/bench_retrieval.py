"""Retrieval quality on the shipped golden set: hit@1, hit@5 and MRR@5 for dense, hybrid, MMR.

Builds ``rag_pipelines/python-docs.yaml`` (the sample corpus) under a temporary state root
unless ``--home`` points at an existing one, then prints one JSON table.

    .venv/bin/python benchmarks/bench_retrieval.py [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, help="state root to reuse (default: a temp dir)")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="bench-retrieval-"))
    os.environ["LLMOPS_HOME"] = str(home)
    from bench_index import _golden, quality

    from llmops.config import load_settings
    from llmops.rag import Pipeline, Retriever, close_stores

    try:
        pipe = Pipeline.from_name("python-docs", load_settings(ROOT))
        start = time.perf_counter()
        build = pipe.run()
        build_s = time.perf_counter() - start
        retriever = Retriever(pipe)
        golden = _golden()
        table = {
            "benchmark": "bench_retrieval",
            "index_version": build.index_version,
            "chunks": build.counts["chunks"],
            "build_s": round(build_s, 2),
            "golden_set": "golden_sets/python-docs.jsonl",
            "dense": quality(retriever, golden),
            "hybrid": quality(retriever, golden, hybrid=True),
            "mmr": quality(retriever, golden, mmr=True),
            "hybrid+mmr": quality(retriever, golden, hybrid=True, mmr=True),
        }
        print(json.dumps(table, indent=2))
    finally:
        close_stores()
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
