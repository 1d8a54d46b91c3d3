"""Prompt registry on the gateway's hot path: resolve + render ``rag-answer@production``.

Prints one JSON table: p50/p99 per operation, the target, the ratio to the floor (plain Jinja2
rendering of the same templates, no checks) and to peers (LangChain and LlamaIndex chat templates
built from the same prompt), all measured in this run.

    .venv/bin/python benchmarks/bench_prompts.py [--n 2000] [--contexts 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from jinja2.sandbox import SandboxedEnvironment

from llmops.prompts import load_registry

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 1.0  # warm get + render must cost well under a millisecond per request


def _timings(fn: Callable[[], object], n: int) -> dict[str, float]:
    for _ in range(min(50, n)):
        fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 4),
        "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--contexts", type=int, default=5)
    args = parser.parse_args()

    contexts = [
        {"id": f"doc-{i}", "text": "lorem ipsum dolor sit amet " * 20, "source": f"{i}.md"}
        for i in range(args.contexts)
    ]
    variables = {"question": "Where are vectors stored?", "contexts": contexts}
    ref = "rag-answer@production"

    start = time.perf_counter()
    registry = load_registry(ROOT)
    version = registry.get(ref)
    cold_ms = (time.perf_counter() - start) * 1000

    env = SandboxedEnvironment()
    floor_templates = [env.from_string(src) for _, src in version.message_templates()]
    lc = version.to_langchain()
    li = version.to_llama_index()

    rows = {
        "floor_jinja_render": _timings(
            lambda: [t.render(variables) for t in floor_templates], args.n
        ),
        "render": _timings(lambda: version.render(**variables), args.n),
        "get_and_render": _timings(lambda: registry.get(ref).render(**variables), args.n),
        "peer_langchain_format_messages": _timings(lambda: lc.format_messages(**variables), args.n),
        "peer_llama_index_format_messages": _timings(
            lambda: li.format_messages(**variables), args.n
        ),
        "lint_shipped_prompts": _timings(registry.lint, max(10, args.n // 100)),
    }
    floor = rows["floor_jinja_render"]["p50_ms"]
    ours = rows["get_and_render"]["p50_ms"]
    table = {
        "benchmark": "prompts",
        "ref": ref,
        "n": args.n,
        "contexts": args.contexts,
        "cold_load_registry_and_get_ms": round(cold_ms, 2),
        "results": rows,
        "target": {"get_and_render_p50_ms": TARGET_MS, "met": ours < TARGET_MS},
        "ratio_to_floor": round(ours / floor, 2),
        "ratio_to_peers": {
            name.removeprefix("peer_"): round(ours / rows[name]["p50_ms"], 2)
            for name in rows
            if name.startswith("peer_")
        },
    }
    print(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
