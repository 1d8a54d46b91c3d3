"""Retrieval: dense, hybrid, MMR, filters, rerankers, lineage, the CLI and the adapters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmops.errors import NotFoundError
from llmops.providers.base import Context
from llmops.rag import RetrievedChunk, Retriever
from llmops.rag.retriever import parse_filters

pytestmark = pytest.mark.slow


@pytest.fixture
def built(make_pipeline: Any) -> Any:
    pipe = make_pipeline()
    return pipe, pipe.run()


@pytest.mark.parametrize(
    ("question", "source"),
    [
        ("How long do I cook spaghetti?", "cooking/pasta.md"),
        ("What is the biggest planet?", "astronomy.rst"),
        ("How often should I oil my bike chain?", "page.html"),
        ("Where can visitors park?", "faq.jsonl#q2"),
        ("When is the quarterly report due?", "notes.txt"),
    ],
)
def test_dense_finds_the_right_document(built: Any, question: str, source: str) -> None:
    pipe, build = built
    result = Retriever(pipe).retrieve(question, k=3)
    assert result.chunks[0].source == source
    assert result.lineage.index_version == build.index_version
    assert result.lineage.pipeline_hash == pipe.pipeline_hash
    assert [c.score for c in result.chunks] == sorted(
        (c.score for c in result.chunks), reverse=True
    )


def test_chunks_carry_title_headings_and_metadata(built: Any) -> None:
    pipe, _ = built
    chunk = Retriever(pipe).retrieve("tomato sauce garlic basil", k=1).chunks[0]
    assert chunk.source == "cooking/pasta.md" and chunk.title == "Cooking pasta"
    assert chunk.heading_path == ["Cooking pasta", "Sauce"]
    assert chunk.metadata == {"team": "kitchen"}
    html = Retriever(pipe).retrieve("tyre pressure", k=1).chunks[0]
    assert html.heading_path == ["Bicycle care", "Tyres"] and "script" not in html.text
    moon = Retriever(pipe).retrieve("Titan methane lakes", k=1).chunks[0]
    assert moon.heading_path == ["Planets", "Moons"]
    ctx = moon.to_context()
    assert isinstance(ctx, Context) and ctx.source == "astronomy.rst" and ctx.id == moon.id


def test_filters_on_metadata_and_source(built: Any) -> None:
    pipe, _ = built
    retriever = Retriever(pipe)
    ops = retriever.retrieve("cooking", k=5, filters={"team": "ops"})
    assert ops.chunks and {c.source for c in ops.chunks} == {"deploy.md"}
    en = retriever.retrieve("office hours", k=5, filters={"lang": "en"})
    assert {c.source for c in en.chunks} == {"faq.jsonl#q1", "faq.jsonl#q2"}
    both = retriever.retrieve("x", k=10, filters={"source": ["notes.txt", "page.html"]})
    assert {c.source for c in both.chunks} == {"notes.txt", "page.html"}
    assert retriever.retrieve("x", k=3, filters={"team": "nobody"}).chunks == []


def test_hybrid_fuses_dense_and_sparse(built: Any) -> None:
    pipe, _ = built
    result = Retriever(pipe).retrieve("nitrogen atmosphere Titan", k=3, hybrid=True)
    assert result.mode == "hybrid" and result.chunks[0].source == "astronomy.rst"
    # an exact rare keyword the dense model blurs is still ranked first by fusion
    assert Retriever(pipe).retrieve("kilometres", k=1, hybrid=True).chunks[0].source == "page.html"


NEAR_DUPLICATES = {
    f"baking/starter-{i}.md": "# Sourdough starter\n\nFeed the sourdough starter every day with "
    f"equal weights of flour and water, and keep it at room temperature. (Note {i}.)\n"
    for i in range(3)
}


def test_mmr_diversifies(make_pipeline: Any, project: Path) -> None:
    """Three near-copies of one answer fill plain top-3; MMR keeps one and adds other sources."""
    for rel, text in NEAR_DUPLICATES.items():
        (project / "docs" / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / "docs" / rel).write_text(text, encoding="utf-8")
    pipe = make_pipeline()
    pipe.run()
    query = "how often should I feed my sourdough starter"
    plain = Retriever(pipe).retrieve(query, k=3)
    diverse = Retriever(pipe).retrieve(query, k=3, mmr=True)
    copies = set(NEAR_DUPLICATES)
    assert {c.source for c in plain.chunks} == copies  # relevance alone: all three copies
    assert diverse.mode == "mmr" and len(diverse.chunks) == 3
    assert diverse.chunks[0].id == plain.chunks[0].id  # the most relevant chunk stays first
    assert sum(c.source in copies for c in diverse.chunks) == 1  # a no-op MMR keeps all three


def test_mmr_select_trades_relevance_for_novelty() -> None:
    import numpy as np

    from llmops.rag.retriever import mmr_select

    query = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    rows = [[0.95, 0.31, 0.0], [0.94, 0.34, 0.0], [0.8, 0.0, 0.6]]  # two near-twins, one apart
    vectors = np.asarray(rows, dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert mmr_select(query, vectors, 2, 0.5) == [0, 2]
    assert mmr_select(query, vectors, 2, 1.0) == [0, 1]  # lambda 1: relevance only


class ByLength:
    """A toy reranker: shortest text first (a cross-encoder would plug in the same way)."""

    def rerank(self, query: str, chunks: list[RetrievedChunk]) -> list[RetrievedChunk]:
        return sorted(chunks, key=lambda c: len(c.text))


def test_reranker_hook(built: Any) -> None:
    pipe, _ = built
    result = Retriever(pipe, reranker=ByLength()).retrieve("report", k=3)
    lengths = [len(c.text) for c in result.chunks]
    assert lengths == sorted(lengths) and len(result.chunks) == 3


def test_nothing_served_is_a_clear_error(make_pipeline: Any) -> None:
    with pytest.raises(NotFoundError, match="no served index") as err:
        Retriever(make_pipeline()).retrieve("anything")
    assert err.value.hint == "build it: llmops index run docs"


def test_parse_filters() -> None:
    assert parse_filters(["team=ops", "n=3", "flag=true", "team=kitchen"]) == {
        "team": ["ops", "kitchen"],
        "n": 3,
        "flag": True,
    }


def test_query_cli_json_and_text(built: Any, project: Path, cli: Any) -> None:
    _, build = built
    from llmops.rag.store import close_stores

    close_stores()
    res = cli("query", "docs", "cook spaghetti", "-k", "2", "--hybrid", "--json", cwd=project)
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["index_version"] == build.index_version and doc["mode"] == "hybrid"
    assert len(doc["chunks"]) == 2 and doc["chunks"][0]["source"] == "cooking/pasta.md"
    res = cli("query", "docs", "tyre pressure", "--filter", "source=page.html", cwd=project)
    assert res.exit_code == 0 and "page.html" in res.stdout and "Bicycle care > Tyres" in res.stdout
    bad = cli("query", "docs", "x", "--filter", "novalue", cwd=project)
    assert bad.exit_code == 2 and "key=value" in bad.stderr


def test_langchain_adapter(built: Any) -> None:
    from langchain_core.retrievers import BaseRetriever

    from llmops.rag import as_langchain_retriever

    pipe, build = built
    lc = as_langchain_retriever(Retriever(pipe), k=2)
    assert isinstance(lc, BaseRetriever)
    docs = lc.invoke("How long do I cook spaghetti?")
    assert len(docs) == 2 and docs[0].metadata["source"] == "cooking/pasta.md"
    assert docs[0].metadata["lineage"]["index_version"] == build.index_version


def test_llamaindex_adapter(built: Any) -> None:
    from llama_index.core.retrievers import BaseRetriever

    from llmops.rag import as_llamaindex_retriever

    pipe, build = built
    li = as_llamaindex_retriever(Retriever(pipe), k=2, hybrid=True)
    assert isinstance(li, BaseRetriever)
    nodes = li.retrieve("What is the biggest planet?")
    assert len(nodes) == 2 and nodes[0].node.metadata["source"] == "astronomy.rst"
    assert nodes[0].node.metadata["index_version"] == build.index_version
