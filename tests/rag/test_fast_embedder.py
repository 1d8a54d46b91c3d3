"""The fast embedding backends (int8, onnx): same interface, close vectors, same ranking."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llmops.embeddings import Embedder, get_embedder

pytestmark = pytest.mark.slow


def test_int8_backend_is_close_to_the_float_model() -> None:
    plain = get_embedder("all-MiniLM-L6-v2")
    fast = get_embedder("int8:all-MiniLM-L6-v2")
    assert isinstance(fast, Embedder) and fast is get_embedder("int8:all-MiniLM-L6-v2")
    assert fast.model_id == "int8:all-MiniLM-L6-v2" and fast.dim == plain.dim == 384
    texts = [
        "The global statement declares names as module-level globals.",
        "Boil the pasta in salted water for ten minutes.",
        "heapq.nlargest returns the n largest elements of a dataset.",
    ]
    a, b = plain.encode(texts), fast.encode(texts)
    assert b.dtype == np.float32 and np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-4)
    assert float((a * b).sum(axis=1).min()) > 0.8
    query = fast.encode(["How do I make a variable global?"])[0]
    assert int(np.argmax(b @ query)) == 0


SAMPLES = [
    "The global statement declares names as module-level globals.",
    "Boil the pasta in salted water for ten minutes.",
    "heapq.nlargest returns the n largest elements of a dataset.",
    "x",
    "Jupiter " * 400,  # longer than max_seq_length: truncated the same way as torch
]


def test_onnx_backend_matches_the_float_model() -> None:
    plain = get_embedder("all-MiniLM-L6-v2")
    fast = get_embedder("onnx:all-MiniLM-L6-v2")
    assert isinstance(fast, Embedder) and fast is get_embedder("onnx:all-MiniLM-L6-v2")
    assert fast.model_id == "onnx:all-MiniLM-L6-v2" and fast.dim == plain.dim == 384
    assert fast.max_seq_length == plain.max_seq_length
    a, b = plain.encode(SAMPLES, batch_size=2), fast.encode(SAMPLES, batch_size=2)
    assert b.dtype == np.float32 and b.shape == a.shape
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-4)
    assert float((a * b).sum(axis=1).min()) >= 0.999
    assert fast.encode([]).shape == (0, 384)
    assert [fast.count_tokens(t) for t in SAMPLES] == [plain.count_tokens(t) for t in SAMPLES]


def test_onnx_export_is_cached_in_the_state_root() -> None:
    import os

    from llmops.embeddings import OnnxEmbedder

    OnnxEmbedder("all-MiniLM-L6-v2")
    files = list((Path(os.environ["LLMOPS_HOME"]) / "models" / "onnx").rglob("model.onnx"))
    assert len(files) == 1 and files[0].stat().st_size > 10_000_000


QUERIES = {
    "How long do I cook spaghetti?": "cooking/pasta.md",
    "Which planet is the largest?": "astronomy.rst",
    "How do I go back to the previous index version?": "deploy.md",
    "When is the quarterly report due?": "notes.txt",
    "How often should I oil my bike chain?": "page.html",
    "Where can visitors park?": "faq.jsonl",
    "What is the atmosphere of Titan made of?": "astronomy.rst",
    "What goes into a tomato sauce?": "cooking/pasta.md",
}


def _hit_and_mrr(pipe: Any) -> tuple[float, float, list[list[str]]]:
    from llmops.rag import Retriever

    retriever, hits, rr, ranks = Retriever(pipe), 0, 0.0, []
    for question, source in QUERIES.items():
        sources = [c.source for c in retriever.retrieve(question, k=5).chunks]
        ranks.append(sources)
        if source in sources:
            hits += 1
            rr += 1 / (sources.index(source) + 1)
    return hits / len(QUERIES), rr / len(QUERIES), ranks


def test_onnx_index_keeps_retrieval_quality(project: Path, make_pipeline: Any) -> None:
    text = (project / "rag_pipelines" / "docs.yaml").read_text("utf-8")
    onnx_spec = text.replace("embedding:\n", 'embedding:\n  model: "onnx:all-MiniLM-L6-v2"\n')
    assert onnx_spec != text
    (project / "rag_pipelines" / "fast.yaml").write_text(
        onnx_spec.replace("name: docs", "name: fast"), "utf-8"
    )
    plain, fast = make_pipeline("docs"), make_pipeline("fast")
    plain.run()
    fast.run()
    hit_p, mrr_p, ranks_p = _hit_and_mrr(plain)
    hit_f, mrr_f, ranks_f = _hit_and_mrr(fast)
    assert hit_p >= 0.75 and hit_f == hit_p  # one question misses with both models
    assert abs(mrr_f - mrr_p) < 1e-9 and ranks_f == ranks_p
