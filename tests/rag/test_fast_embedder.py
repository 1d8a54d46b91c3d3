"""Embedding backends: ONNX (the default), torch (the reference) and int8.

Same interface, the same vectors for ONNX and torch (so indexes built by either stay valid), the
ONNX export made once per machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llmops.embeddings import Embedder, get_embedder

pytestmark = pytest.mark.slow


def test_int8_backend_is_close_to_the_float_model() -> None:
    plain = get_embedder("torch:all-MiniLM-L6-v2")
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
    plain = get_embedder("torch:all-MiniLM-L6-v2")
    fast = get_embedder("onnx:all-MiniLM-L6-v2")
    assert isinstance(fast, Embedder) and fast is get_embedder("onnx:all-MiniLM-L6-v2")
    assert plain is get_embedder("sentence-transformers:all-MiniLM-L6-v2")
    assert get_embedder("all-MiniLM-L6-v2") is fast  # the default backend on CPU
    assert plain.model_id == "all-MiniLM-L6-v2"
    assert fast.model_id == "onnx:all-MiniLM-L6-v2" and fast.dim == plain.dim == 384
    assert fast.max_seq_length == plain.max_seq_length
    a, b = plain.encode(SAMPLES, batch_size=2), fast.encode(SAMPLES, batch_size=2)
    assert b.dtype == np.float32 and b.shape == a.shape
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-4)
    assert float((a * b).sum(axis=1).min()) >= 0.999
    assert fast.encode([]).shape == (0, 384)
    assert [fast.count_tokens(t) for t in SAMPLES] == [plain.count_tokens(t) for t in SAMPLES]


def test_onnx_export_is_cached_machine_wide_and_reused_by_a_fresh_state_root(
    tmp_path: Path,
) -> None:
    import json
    import os
    import subprocess
    import sys

    from llmops.embeddings import DEFAULT_MODEL, OnnxEmbedder, onnx_model_file, resolve_model_path
    from llmops.machine_cache import machine_cache_dir

    OnnxEmbedder(DEFAULT_MODEL)  # exports on the first use on this machine
    model = onnx_model_file(resolve_model_path(DEFAULT_MODEL))
    assert model.is_relative_to(machine_cache_dir() / "onnx")
    # the weights live beside the graph (mapped at load, not parsed out of the protobuf)
    weights = model.with_name(model.name + ".data")
    assert weights.stat().st_size > 10**7 and model.stat().st_size < 10**6
    assert (model.parent / ".complete").is_file()
    assert not (Path(os.environ["LLMOPS_HOME"]) / "models").exists()  # nothing per state root
    before = model.stat().st_mtime_ns
    code = (
        "import json, sys\n"
        "from llmops.embeddings import get_embedder, onnx_model_file, resolve_model_path\n"
        "e = get_embedder()\n"
        "e.encode(['a fresh state root'])\n"
        "path = onnx_model_file(resolve_model_path('all-MiniLM-L6-v2'))\n"
        "print(json.dumps([e.model_id, str(path), 'torch' in sys.modules]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOPS_")}
    env["LLMOPS_HOME"] = str(tmp_path / "fresh-home")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    model_id, path, torch_loaded = json.loads(out.stdout.strip().splitlines()[-1])
    # the same entry, not re-exported (an export imports torch), nothing under the new home
    assert (model_id, path, torch_loaded) == ("onnx:all-MiniLM-L6-v2", str(model), False)
    assert model.stat().st_mtime_ns == before
    assert not (tmp_path / "fresh-home" / "models").exists()


def test_the_onnx_cache_is_keyed_by_content_not_path(tmp_path: Path) -> None:
    import shutil

    from llmops.embeddings import DEFAULT_MODEL, onnx_model_file, resolve_model_path

    original = resolve_model_path(DEFAULT_MODEL)
    copy = tmp_path / "elsewhere" / "my-minilm"
    shutil.copytree(original, copy)
    assert onnx_model_file(copy) == onnx_model_file(original)  # one export for both
    (copy / "config.json").write_text(
        (copy / "config.json").read_text("utf-8").replace("{", '{"edited": 1, ', 1), "utf-8"
    )
    from llmops.onnx_export import _content_key

    assert _content_key(copy) != _content_key(original)  # other bytes, another entry


def test_backend_selection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from llmops.embeddings import backend_for
    from llmops.errors import ConfigError

    assert backend_for("all-MiniLM-L6-v2") == ("onnx", "all-MiniLM-L6-v2")
    assert backend_for("torch:all-MiniLM-L6-v2") == ("sentence-transformers", "all-MiniLM-L6-v2")
    assert backend_for("int8:all-MiniLM-L6-v2") == ("int8", "all-MiniLM-L6-v2")
    assert backend_for("all-MiniLM-L6-v2", "cuda") == ("sentence-transformers", "all-MiniLM-L6-v2")
    cls = tmp_path / "cls-model"  # a CLS-pooling model: ONNX does not implement it, torch does
    (cls / "1_Pooling").mkdir(parents=True)
    (cls / "modules.json").write_text(
        json.dumps([{"type": "sentence_transformers.models.Transformer"},
                    {"type": "sentence_transformers.models.Pooling"}]), "utf-8",
    )  # fmt: skip
    (cls / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 8, "pooling_mode_cls_token": True}), "utf-8"
    )
    (cls / "sentence_bert_config.json").write_text("{}", "utf-8")
    (cls / "tokenizer.json").write_text("{}", "utf-8")
    assert backend_for(str(cls)) == ("sentence-transformers", str(cls))
    monkeypatch.setenv("LLMOPS_EMBEDDING_BACKEND", "torch")
    assert backend_for("all-MiniLM-L6-v2") == ("sentence-transformers", "all-MiniLM-L6-v2")
    monkeypatch.setenv("LLMOPS_EMBEDDING_BACKEND", "tensorflow")
    with pytest.raises(ConfigError, match="unknown embedding backend 'tensorflow'"):
        backend_for("all-MiniLM-L6-v2")


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
    torch_spec = text.replace("embedding:\n", 'embedding:\n  model: "torch:all-MiniLM-L6-v2"\n')
    assert torch_spec != text
    (project / "rag_pipelines" / "ref.yaml").write_text(
        torch_spec.replace("name: docs", "name: ref"), "utf-8"
    )
    plain, fast = make_pipeline("ref"), make_pipeline("docs")  # torch, the default (onnx)
    assert plain.run().counts["encoder"] == "all-MiniLM-L6-v2"
    assert fast.run().counts["encoder"] == "onnx:all-MiniLM-L6-v2"
    hit_p, mrr_p, ranks_p = _hit_and_mrr(plain)
    hit_f, mrr_f, ranks_f = _hit_and_mrr(fast)
    assert hit_p >= 0.75 and hit_f == hit_p  # one question misses with both models
    assert abs(mrr_f - mrr_p) < 1e-9 and ranks_f == ranks_p


def test_an_index_built_on_torch_stays_valid_on_the_onnx_default(
    project: Path, make_pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Switching the default backend needs no rebuild: torch-built vectors serve ONNX queries."""
    from llmops.rag import Retriever

    monkeypatch.setenv("LLMOPS_EMBEDDING_BACKEND", "torch")  # how indexes were built before
    built = make_pipeline().run()
    assert built.counts["encoder"] == "all-MiniLM-L6-v2"
    _, _, torch_ranks = _hit_and_mrr(make_pipeline())
    torch_scores = [c.score for c in Retriever(make_pipeline()).retrieve("pasta", k=5).chunks]
    monkeypatch.delenv("LLMOPS_EMBEDDING_BACKEND")  # the ONNX default
    pipe = make_pipeline()
    assert pipe.pipeline_hash == built.lineage.pipeline_hash  # not a config change
    again = pipe.run()
    assert (again.switched, again.counts["embedded"]) == (False, 0)  # nothing re-embedded
    _, _, onnx_ranks = _hit_and_mrr(pipe)
    assert onnx_ranks == torch_ranks
    onnx_scores = [c.score for c in Retriever(pipe).retrieve("pasta", k=5).chunks]
    assert np.allclose(onnx_scores, torch_scores, atol=1e-4)
    (project / "docs" / "notes.txt").write_text("The annual report is due in March.\n", "utf-8")
    mixed = pipe.run()  # incremental: only the changed file is embedded, on ONNX
    assert mixed.counts["embedded"] == 1 and mixed.counts["encoder"] == "onnx:all-MiniLM-L6-v2"
    hits = Retriever(pipe).retrieve("When is the annual report due?", k=1).chunks
    assert hits[0].source == "notes.txt"


def test_the_preload_thread_only_builds_the_session() -> None:
    """Imports stay in the caller: two threads importing numpy at once can break it.

    (Seen: ``llmops query`` failing with "partially initialized module numpy._core" when the
    preload thread imported onnxruntime while the main thread imported qdrant_client.)
    """
    import json
    import subprocess
    import sys

    from llmops.embeddings import DEFAULT_MODEL, onnx_model_file, resolve_model_path

    onnx_model_file(resolve_model_path(DEFAULT_MODEL))  # the export exists: preloading applies
    code = (
        "import json, sys\n"
        "from llmops.embeddings import get_embedder, preload_embedder\n"
        "thread = preload_embedder()\n"
        "before = set(sys.modules)\n"
        "thread.join()\n"
        "imported = sorted(set(sys.modules) - before)\n"
        "vec = get_embedder().encode(['x'])\n"
        "print(json.dumps([imported, preload_embedder() is None, vec.shape[1]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imported, second_is_noop, dim = json.loads(out.stdout.strip().splitlines()[-1])
    assert imported == [] and second_is_noop and dim == 384
