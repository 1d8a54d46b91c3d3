"""RAG indexing on the sample corpus (Python docs): build cost, incrementality, query overhead.

Prints one JSON table, every ratio measured in this run on the same machine:

- full build / encoder-only (the same chunk texts through the same backend, batch, threads);
- full build against LlamaIndex (IngestionPipeline + QdrantVectorStore + HuggingFaceEmbedding)
  and LangChain (QdrantVectorStore.from_documents + HuggingFaceEmbeddings), same corpus, model,
  local Qdrant mode; the backends (``onnx``, the default; ``torch``, the previous default;
  ``int8``) and their hit@5 / MRR on the golden set;
- ONNX against torch: cosine agreement of the vectors of every chunk and golden question, and
  retrieval from a torch-built index with ONNX query vectors (what an index built before ONNX
  became the default serves now) — the tolerance behind treating them as one vector space;
- re-run after changing 1 % of the documents / full, re-run with no change / full;
- query p50/p99 minus the floor (query encode + raw Qdrant search);
- peak RSS of a build over a corpus N x larger (a child process).

    .venv/bin/python benchmarks/bench_index.py [--fraction 1.0] [--mem-scale 10] [--no-peers]
    .venv/bin/python benchmarks/bench_index.py --only-agreement   # just the ONNX/torch figures
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PLAIN = "torch:all-MiniLM-L6-v2"  # the reference (the default before ONNX)
FAST = "int8:all-MiniLM-L6-v2"
ONNX = "all-MiniLM-L6-v2"  # the default: ONNX Runtime on CPU
BATCH = 16
CHUNK, OVERLAP = 250, 32

PIPELINE = """\
name: {name}
sources:
  - path: {corpus}
chunking: {{chunk_size: {chunk}, chunk_overlap: {overlap}}}
embedding: {{model: "{model}", batch_size: {batch}}}
store: {{retention: 2}}
"""


def _corpus(dest: Path, fraction: float, copies: int = 1) -> list[Path]:
    from llmops.rag.corpus import export_python_docs

    src = dest.parent / "export"
    export_python_docs(src)
    files = sorted(p for p in src.rglob("*.md"))
    step = max(1, round(1 / fraction))
    keep = files[::step]
    out = []
    for c in range(copies):
        for p in keep:
            target = dest / (f"copy{c}" if copies > 1 else "") / p.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            text = p.read_text("utf-8")
            # each copy differs in every chunk so nothing is deduplicated or reused
            target.write_text(text.replace("\n\n", f"\n\n(copy {c}) ", 3) if c else text, "utf-8")
            out.append(target)
    return out


def _project(root: Path, corpus: Path) -> Any:
    from llmops.config import load_settings

    (root / "rag_pipelines").mkdir(parents=True, exist_ok=True)
    (root / "llmops.yaml").write_text("project: bench\n", "utf-8")
    for name, model in (("plain", PLAIN), ("fast", FAST), ("onnx", ONNX)):
        (root / "rag_pipelines" / f"{name}.yaml").write_text(
            PIPELINE.format(
                name=name, corpus=corpus, model=model, batch=BATCH, chunk=CHUNK, overlap=OVERLAP
            ),
            "utf-8",
        )
    return load_settings(root)


def _chunk_texts(pipe: Any) -> list[str]:
    from llmops.rag.chunking import Chunker
    from llmops.rag.documents import discover, load_file

    chunker = Chunker(pipe.spec.chunking, pipe.model_spec)
    texts = []
    for source in pipe.spec.sources:
        for entry in discover(pipe.source_root(source), source):
            if entry.problem is None:
                for doc in load_file(entry, source, pipe.spec.parsing):
                    texts.extend(c.embed_text for c in chunker.chunks(doc))
    return texts


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _llamaindex_build(corpus: Path, qdrant_dir: Path) -> tuple[float, int]:
    from llama_index.core import Document
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    from llmops.embeddings import resolve_model_path

    embed = HuggingFaceEmbedding(model_name=str(resolve_model_path(ONNX)), embed_batch_size=BATCH)
    client = QdrantClient(path=str(qdrant_dir))
    docs = [
        Document(text=p.read_text("utf-8"), metadata={"source": str(p.relative_to(corpus))})
        for p in sorted(corpus.rglob("*.md"))
    ]
    store = QdrantVectorStore(collection_name="li", client=client)
    pipeline = IngestionPipeline(
        transformations=[SentenceSplitter(chunk_size=CHUNK, chunk_overlap=OVERLAP), embed],
        vector_store=store,
    )
    seconds, nodes = _timed(lambda: pipeline.run(documents=docs))
    client.close()
    return seconds, len(nodes)


def _langchain_build(corpus: Path, qdrant_dir: Path) -> tuple[float, int]:
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_qdrant import QdrantVectorStore
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from transformers import AutoTokenizer

    from llmops.embeddings import resolve_model_path

    path = str(resolve_model_path(ONNX))
    embed = HuggingFaceEmbeddings(model_name=path, encode_kwargs={"batch_size": BATCH})
    splitter = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
        AutoTokenizer.from_pretrained(path), chunk_size=CHUNK, chunk_overlap=OVERLAP
    )

    def build() -> int:
        docs = [
            Document(page_content=p.read_text("utf-8"), metadata={"source": str(p)})
            for p in sorted(corpus.rglob("*.md"))
        ]
        chunks = splitter.split_documents(docs)
        store = QdrantVectorStore.from_documents(
            chunks, embed, path=str(qdrant_dir), collection_name="lc"
        )
        store.client.close()
        return len(chunks)

    return _timed(build)


def _percentiles(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "p50_ms": round(statistics.median(samples) * 1000, 3),
        "p99_ms": round(samples[max(0, math.ceil(len(samples) * 0.99) - 1)] * 1000, 3),
    }


def _golden() -> list[dict[str, Any]]:
    lines = (ROOT / "golden_sets" / "python-docs.jsonl").read_text("utf-8").splitlines()
    return [json.loads(x) for x in lines if x.strip()]


def quality(retriever: Any, records: list[dict[str, Any]], **mode: Any) -> dict[str, float]:
    """Return hit@1, hit@5 and MRR@5 over answerable golden questions present in the index."""
    hits1 = hits5 = rr = 0.0
    n = 0
    served = retriever.pipeline.served()
    indexed = {s.split("/", 1)[-1] for s in served.documents} if served else set()
    for r in records:
        wanted = {s.split("/", 1)[-1] for s in r["reference_sources"]}
        if not r["answerable"] or not wanted & indexed:  # a partial corpus lacks the source
            continue
        ranked = [
            c.source.split("/", 1)[-1] for c in retriever.retrieve(r["input"], k=5, **mode).chunks
        ]
        n += 1
        for rank, source in enumerate(ranked, start=1):
            if source in wanted:
                hits1 += rank == 1
                hits5 += 1
                rr += 1 / rank
                break
    return {
        "hit@1": round(hits1 / n, 4),
        "hit@5": round(hits5 / n, 4),
        "mrr@5": round(rr / n, 4),
        "questions": n,
    }


def agreement(texts: list[str], questions: list[str]) -> dict[str, Any]:
    """Return the cosine agreement of torch and ONNX vectors of the same texts."""
    import numpy as np

    from llmops.embeddings import get_embedder

    torch_emb, onnx_emb = get_embedder(PLAIN), get_embedder(ONNX)
    out: dict[str, Any] = {"backends": [torch_emb.model_id, onnx_emb.model_id]}
    for name, items in (("chunks", texts), ("questions", questions)):
        a = torch_emb.encode(items, batch_size=BATCH)
        b = onnx_emb.encode(items, batch_size=BATCH)
        cos = np.sort((a * b).sum(axis=1))
        out[name] = {
            "n": len(items),
            "cosine_min": round(float(cos[0]), 7),
            "cosine_p01": round(float(cos[int(len(cos) * 0.01)]), 7),
            "cosine_mean": round(float(cos.mean()), 7),
            "max_abs_diff": round(float(np.abs(a - b).max()), 7),
        }
    return out


def cross_quality(
    torch_pipe: Any, onnx_pipe: Any, records: list[dict[str, Any]], k: int = 5
) -> dict[str, Any]:
    """Query the torch-built index with ONNX query vectors; compare rankings with torch's."""
    import numpy as np

    from llmops.embeddings import get_embedder

    store = torch_pipe.store()
    collection = store.alias_target(torch_pipe.spec.alias)
    onnx_emb, torch_emb = get_embedder(ONNX), get_embedder(PLAIN)
    same_top, same_order, n = 0, 0, 0
    hits = rr = 0.0
    served = torch_pipe.served()
    indexed = {s.split("/", 1)[-1] for s in served.documents} if served else set()
    for r in records:
        wanted = {s.split("/", 1)[-1] for s in r["reference_sources"]}
        if not r["answerable"] or not wanted & indexed:  # a partial corpus lacks the source
            continue
        q = r["input"]
        ranked = []
        for emb in (torch_emb, onnx_emb):
            vec = emb.encode([q], batch_size=1)[0]
            res = store.client.query_points(
                collection, query=np.asarray(vec), using="dense", limit=k, with_payload=True
            )
            ranked.append([str(p.payload["source"]) for p in res.points])
        n += 1
        same_top += ranked[0][0] == ranked[1][0]
        same_order += ranked[0] == ranked[1]
        for rank, source in enumerate(ranked[1], start=1):
            if source.split("/", 1)[-1] in wanted:
                hits += 1
                rr += 1 / rank
                break
    return {
        "questions": n,
        "same_top1": round(same_top / n, 4),
        "same_top5_order": round(same_order / n, 4),
        "hit@5": round(hits / n, 4),
        "mrr@5": round(rr / n, 4),
    }


@contextmanager
def _workspace(prefix: str, fraction: float) -> Iterator[tuple[Path, list[Path], Any]]:
    """A throwaway folder with the state root, corpus/ and the project: (folder, files, settings)."""
    from llmops.rag import close_stores

    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["LLMOPS_HOME"] = str(work / "home")
    try:
        files = _corpus(work / "corpus", fraction)
        yield work, files, _project(work / "proj", work / "corpus")
    finally:
        close_stores()
        shutil.rmtree(work, ignore_errors=True)


def _only_agreement(args: Any) -> dict[str, Any]:
    from llmops.rag import Pipeline, Retriever

    with _workspace("bench-agree-", args.fraction) as (_, files, settings):
        plain, onnx = Pipeline.from_name("plain", settings), Pipeline.from_name("onnx", settings)
        golden = _golden()
        texts = _chunk_texts(plain)
        t_plain, _ = _timed(lambda: plain.run(full=True))
        t_onnx, _ = _timed(lambda: onnx.run(full=True))
        return {
            "benchmark": "bench_index --only-agreement",
            "corpus": {"files": len(files), "chunks": len(texts), "fraction": args.fraction},
            "machine": {"cpus": os.cpu_count(), "load_1m": round(os.getloadavg()[0], 2)},
            "full_build_s": {"torch": round(t_plain, 2), "onnx_default": round(t_onnx, 2)},
            "quality_dense": {
                "torch": quality(Retriever(plain), golden),
                "onnx_default": quality(Retriever(onnx), golden),
            },
            "vector_agreement": agreement(texts, [r["input"] for r in golden]),
            "torch_index_onnx_queries": cross_quality(plain, onnx, golden),
        }


def _mem_child(workdir: Path, scale: int, fraction: float) -> None:
    corpus = workdir / "corpus"
    files = _corpus(corpus, fraction, copies=scale)
    settings = _project(workdir / "proj", corpus)
    import tracemalloc

    from llmops.rag import Pipeline

    pipe = Pipeline.from_name("onnx", settings)  # the default backend
    pipe.embedder()  # model loading is a fixed cost: keep it out of the build's heap peak
    tracemalloc.start()
    result = pipe.run(full=True)
    _, heap_peak = tracemalloc.get_traced_memory()
    # Who holds the heap once the build is over: embedded Qdrant keeps every point in memory
    # (a property of local mode; closing the store frees it), the rest is the build's own.
    import gc

    from llmops.rag import Retriever, close_stores

    chunks = result.counts["chunks"]
    del pipe, result  # the pipeline keeps its store open
    gc.collect()
    after_build = tracemalloc.get_traced_memory()[0]
    close_stores()
    gc.collect()
    after_close = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    held = {"embedded_qdrant": after_build - after_close, "build_and_rest": after_close}
    # Query latency at this size, the store reopened as a serving process would open it.
    retriever = Retriever(Pipeline.from_name("onnx", settings))
    questions = [r["input"] for r in _golden()][:20]
    retriever.retrieve(questions[0], k=5)
    query = _percentiles([_timed(lambda q=q: retriever.retrieve(q, k=5))[0] for q in questions])
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "files": len(files),
                "chunks": chunks,
                "peak_rss_mb": round(peak_kb / 1024, 1),
                "build_python_heap_peak_mb": round(heap_peak / 2**20, 1),
                "heap_held_after_build_mb": {k: round(v / 2**20, 1) for k, v in held.items()},
                "query_dense_k5": query,
            }
        )
    )


def _mem(scale: int, fraction: float) -> dict[str, Any]:
    out = {}
    for label, n in (("1x", 1), (f"{scale}x", scale)):
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, LLMOPS_HOME=str(Path(tmp) / "home"))
            proc = subprocess.run(
                [sys.executable, __file__, "--mem-child", tmp, "--mem-scale", str(n), "--fraction", str(fraction)],
                capture_output=True, text=True, env=env, check=True,
            )  # fmt: skip
            out[label] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fraction", type=float, default=1.0, help="share of corpus files")
    parser.add_argument("--mem-scale", type=int, default=10)
    parser.add_argument("--no-mem", action="store_true")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--only-mem", action="store_true", help="just the memory figures")
    parser.add_argument(
        "--only-agreement", action="store_true", help="just the ONNX/torch quality figures"
    )
    parser.add_argument("--mem-child", type=Path)
    args = parser.parse_args()
    if args.mem_child:
        _mem_child(args.mem_child, args.mem_scale, args.fraction)
        return
    if args.only_mem:
        print(json.dumps({"peak_memory": _mem(args.mem_scale, args.fraction)}, indent=2))
        return
    if args.only_agreement:
        print(json.dumps(_only_agreement(args), indent=2))
        return

    from llmops.embeddings import get_embedder
    from llmops.rag import Pipeline, Retriever

    with _workspace("bench-index-", args.fraction) as (work, files, settings):
        corpus = work / "corpus"
        plain, fast = Pipeline.from_name("plain", settings), Pipeline.from_name("fast", settings)
        onnx = Pipeline.from_name("onnx", settings)
        emb_plain, emb_fast, emb_onnx = get_embedder(PLAIN), get_embedder(FAST), get_embedder(ONNX)
        texts = _chunk_texts(plain)
        emb_plain.encode(texts[:32], batch_size=BATCH)  # warm both backends
        emb_fast.encode(texts[:32], batch_size=BATCH)
        emb_onnx.encode(texts[:32], batch_size=BATCH)

        # Encoder-only runs bracket each build and the faster one counts: on a shared machine
        # a single run can land on a busy moment.
        def encode(emb: Any) -> float:
            return _timed(lambda: emb.encode(texts, batch_size=BATCH))[0]

        t_enc_plain = encode(emb_plain)
        t_plain, r_plain = _timed(lambda: plain.run(full=True))
        t_enc_plain = min(t_enc_plain, encode(emb_plain))
        t_enc_fast = encode(emb_fast)
        t_fast, _ = _timed(lambda: fast.run(full=True))
        t_enc_fast = min(t_enc_fast, encode(emb_fast))
        t_enc_onnx = encode(emb_onnx)
        t_onnx, _ = _timed(lambda: onnx.run(full=True))
        t_enc_onnx = min(t_enc_onnx, encode(emb_onnx))
        peers: dict[str, Any] = {}
        if not args.no_peers:
            t, n = _llamaindex_build(corpus, work / "q-li")
            peers["llamaindex"] = {"seconds": round(t, 2), "chunks": n}
            t, n = _langchain_build(corpus, work / "q-lc")
            peers["langchain"] = {"seconds": round(t, 2), "chunks": n}

        changed = files[:: max(1, len(files) // max(1, math.ceil(len(files) * 0.01)))][
            : max(1, math.ceil(len(files) * 0.01))
        ]
        for p in changed:
            p.write_text(p.read_text("utf-8") + "\nOne more sentence changed this file.\n", "utf-8")
        # incremental runs and queries on the default backend (onnx)
        t_one, r_one = _timed(lambda: onnx.run())
        t_none, r_none = _timed(lambda: onnx.run())

        retriever = Retriever(onnx)
        golden = _golden()
        queries = [r["input"] for r in golden]
        collection = onnx.store().alias_target("onnx")
        client = onnx.store().client
        ours, floor = [], []
        for i in range(args.queries):
            q = queries[i % len(queries)]
            t0 = time.perf_counter()
            vec = emb_onnx.encode([q], batch_size=1)[0]
            client.query_points(collection, query=vec, using="dense", limit=5, with_payload=True)
            floor.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            retriever.retrieve(q, k=5)
            ours.append(time.perf_counter() - t0)
        q_ours, q_floor = _percentiles(ours), _percentiles(floor)

        q_plain = quality(Retriever(plain), golden)
        q_fast = quality(Retriever(fast), golden)
        q_onnx = quality(retriever, golden)
        best_peer = min((v["seconds"] for v in peers.values()), default=None)
        table: dict[str, Any] = {
            "benchmark": "bench_index",
            "corpus": {
                "files": len(files),
                "chunks": r_plain.counts["chunks"],
                "fraction": args.fraction,
            },
            "machine": {"cpus": os.cpu_count(), "load_1m": round(os.getloadavg()[0], 2)},
            "full_build_s": {
                "plain": round(t_plain, 2),
                "fast_int8": round(t_fast, 2),
                "fast_onnx": round(t_onnx, 2),
            },
            "encoder_only_s": {
                "plain": round(t_enc_plain, 2),
                "fast_int8": round(t_enc_fast, 2),
                "fast_onnx": round(t_enc_onnx, 2),
            },
            "build_over_encoder": {
                "plain": round(t_plain / t_enc_plain, 3),
                "fast_int8": round(t_fast / t_enc_fast, 3),
                "fast_onnx": round(t_onnx / t_enc_onnx, 3),
                "target": 1.10,
            },
            "peers_s": peers,
            "fast_build_over_best_peer": {
                "value": round(t_fast / best_peer, 3) if best_peer else None,
                "onnx_over_best_peer": round(t_onnx / best_peer, 3) if best_peer else None,
                "plain_over_best_peer": round(t_plain / best_peer, 3) if best_peer else None,
                "target": 0.7,
            },
            "quality_dense": {
                "plain": q_plain,
                "fast_int8": q_fast,
                "fast_onnx": q_onnx,
                "max_drop_points": 1.0,
            },
            "vector_agreement": agreement(texts, queries),
            "torch_index_onnx_queries": cross_quality(plain, onnx, golden),
            "rerun_1pct_over_full": {
                "backend": "onnx",
                "value": round(t_one / t_onnx, 4),
                "changed_files": len(changed),
                "embedded": r_one.counts["embedded"],
                "target": 0.05,
            },
            "rerun_nochange_over_full": {
                "value": round(t_none / t_onnx, 4),
                "embedded": r_none.counts["embedded"],
                "target": 0.02,
            },
            "query": {
                "ours": q_ours,
                "floor": q_floor,
                "p50_overhead_ms": round(q_ours["p50_ms"] - q_floor["p50_ms"], 3),
                "p99_overhead_ms": round(q_ours["p99_ms"] - q_floor["p99_ms"], 3),
                "target_p50_overhead_ms": 3.0,
            },
        }
        if not args.no_mem:
            table["peak_memory"] = _mem(args.mem_scale, args.fraction)
        print(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
