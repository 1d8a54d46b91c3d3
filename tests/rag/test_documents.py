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


TEXTS = {
    "latin-1 french": (
        "Le café est très bon. Où est la bibliothèque? Des crêpes à Noël.",
        "latin-1",
    ),
    "latin-1 german": ("Die Größe der Straße ist überraschend.", "latin-1"),
    "latin-1 short": ("café crème", "latin-1"),
    "cp1252 quotes": ("Smart “quotes” – and a € sign.", "cp1252"),
    "cp1250 polish": ("Zażółć gęślą jaźń – polski tekst, który jest dość długi.", "cp1250"),
    "cp1251 russian": ("Привет, как дела? Это тестовый документ на русском языке.", "cp1251"),
    "shift_jis japanese": ("これは日本語のテスト文書です。よろしくお願いします。", "shift_jis"),
}


@pytest.mark.parametrize("case", sorted(TEXTS))
def test_text_in_other_encodings_is_decoded(tmp_path: Path, case: str) -> None:
    text, encoding = TEXTS[case]
    (tmp_path / "a.txt").write_bytes(f"{text}\n".encode(encoding))
    entry = discover(tmp_path, SourceSpec(path=str(tmp_path)))[0]
    assert entry.problem is None and entry.encoding != "utf-8"
    doc = _docs(tmp_path)["a.txt"]
    assert "".join(s.text for s in doc.sections()).strip() == text  # type: ignore[attr-defined]


def test_undecodable_bytes_are_skipped_as_non_utf8(tmp_path: Path) -> None:
    import random

    noise = random.Random(0).randbytes(4000).replace(b"\x00", b"\x81")
    (tmp_path / "noise.txt").write_bytes(noise)
    (tmp_path / "blank.txt").write_bytes(b"\xa0\xa0\n")  # non-breaking spaces in cp1252: empty
    problems = {e.rel: e.problem for e in discover(tmp_path, SourceSpec(path=str(tmp_path)))}
    assert problems == {"noise.txt": "non_utf8", "blank.txt": "empty"}


def test_utf8_html_without_meta_charset_is_read_as_utf8(tmp_path: Path) -> None:
    (tmp_path / "p.html").write_text(
        "<html><head><title>Café</title></head><body><p>Très bon.</p></body></html>", "utf-8"
    )
    (tmp_path / "l.html").write_bytes(
        "<html><head><title>Crème</title></head><body><p>Brûlée.</p></body></html>".encode(
            "latin-1"
        )
    )
    docs = _docs(tmp_path)
    assert docs["p.html"].title == "Café"  # type: ignore[attr-defined]
    assert "Très bon." in "".join(s.text for s in docs["p.html"].sections())  # type: ignore[attr-defined]
    assert docs["l.html"].title == "Crème"  # type: ignore[attr-defined]


def test_unmatched_globs_are_described(tmp_path: Path) -> None:
    from llmops.rag.documents import unmatched_globs

    (tmp_path / "a.md").write_text("# A\n", "utf-8")
    (tmp_path / "b.mdx").write_text("# B\n", "utf-8")
    spec = SourceSpec(path=str(tmp_path), include=["**/*.md", "**/*.mdx", "**/*.rst"])
    assert unmatched_globs(tmp_path, spec) == [
        "'**/*.mdx' matched only files no loader reads (.mdx)",
        "'**/*.rst' matched nothing",
    ]
