"""Reading files: formats, headings, front matter, streaming, and token-aware chunks."""

from __future__ import annotations

import json
import tracemalloc
from itertools import islice
from pathlib import Path

import pytest

from llmops.rag import Chunker
from llmops.rag.documents import discover, load_file
from llmops.rag.spec import ChunkingSpec, ParsingSpec, SourceSpec


def _docs(root: Path, **source: object) -> dict[str, object]:
    spec = SourceSpec(path=str(root), **source)  # type: ignore[arg-type]
    out = {}
    for entry in discover(root, spec):
        if entry.problem is None:
            for doc in load_file(entry, spec, ParsingSpec()):
                out[doc.source] = doc
    return out


def test_markdown_front_matter_headings_and_code(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(
        "---\ntitle: Guide\ntags: [x, y]\n---\nIntro.\n\n## Setup\n\nText.\n\n"
        "    # not a heading (indented code)\n\n```\n# nor this\n```\n\n### Deep\n\nMore.\n",
        encoding="utf-8",
    )
    doc = _docs(tmp_path)["a.md"]
    assert doc.title == "Guide" and doc.metadata == {"tags": ["x", "y"]}  # type: ignore[attr-defined]
    sections = [(s.heading_path, s.text.strip()) for s in doc.sections()]  # type: ignore[attr-defined]
    assert sections[0] == ([], "Intro.")
    assert (
        sections[1][0] == ["Setup"]
        and "not a heading" in sections[1][1]
        and "nor this" in sections[1][1]
    )
    assert sections[2] == (["Setup", "Deep"], "More.")


def test_include_exclude_globs(tmp_path: Path) -> None:
    for rel in ("a.md", "drafts/b.md", "c.txt", "d.pdf"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("text\n", encoding="utf-8")
    assert set(_docs(tmp_path, include=["**/*.md", "**/*.txt"], exclude=["drafts/**"])) == {
        "a.md",
        "c.txt",
    }


def test_jsonl_records_become_documents_and_bad_lines_are_counted(tmp_path: Path) -> None:
    lines = [{"id": "a", "body": "First.", "title": "One", "n": 1}, "not json", {"id": "b"}]
    (tmp_path / "r.jsonl").write_text(
        "\n".join(json.dumps(x) if isinstance(x, dict) else x for x in lines) + "\n", "utf-8"
    )
    spec = SourceSpec(path=str(tmp_path), text_field="body")
    entry = discover(tmp_path, spec)[0]
    docs = list(load_file(entry, spec, ParsingSpec()))
    assert [(d.source, d.title, d.metadata) for d in docs] == [("r.jsonl#a", "One", {"n": 1})]
    assert entry.extra["bad_records"] == 2


def test_large_file_is_streamed(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    paragraph = "Streaming keeps memory flat while a large file is read. " * 20 + "\n\n"
    with path.open("w", encoding="utf-8") as fh:
        for _ in range(190_000):  # about 213 MB
            fh.write(paragraph)
    spec = SourceSpec(path=str(tmp_path))
    tracemalloc.start()
    entry = discover(tmp_path, spec)[0]  # hashes and checks UTF-8 block by block
    doc = next(iter(load_file(entry, spec, ParsingSpec())))
    sections = list(islice(doc.sections(), 50))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert entry.problem is None and entry.size > 200 * 1024 * 1024
    assert len(sections) == 50 and all(len(s.text) < 300_000 for s in sections)
    assert peak < 8 * 1024 * 1024, peak


@pytest.mark.slow
def test_chunks_respect_token_budget_overlap_and_ids(tmp_path: Path) -> None:
    text = " ".join(f"Sentence number {i} explains one more detail." for i in range(120))
    (tmp_path / "a.md").write_text(f"# Title\n\n{text}\n", encoding="utf-8")
    chunker = Chunker(ChunkingSpec(chunk_size=64, chunk_overlap=16), "all-MiniLM-L6-v2")
    doc = _docs(tmp_path)["a.md"]
    chunks = list(chunker.chunks(doc))  # type: ignore[arg-type]
    assert len(chunks) > 5
    assert all(chunker.count_tokens(c.payload["text"]) <= 64 for c in chunks)
    assert [c.payload["chunk_index"] for c in chunks] == list(range(len(chunks)))
    first, second = chunks[0].payload["text"], chunks[1].payload["text"]
    assert first.split()[-3:] == second.split()[:3] or first[-20:] in second  # overlap
    assert chunks[0].embed_text.startswith("Title\n")  # title prepended for embedding
    again = list(chunker.chunks(_docs(tmp_path)["a.md"]))  # type: ignore[arg-type]
    assert [c.id for c in again] == [c.id for c in chunks]  # deterministic ids
