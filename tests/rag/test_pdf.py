"""PDF sources: text per page, outline headings, title, and bad PDFs skipped and counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmops.rag.documents import discover, load_file
from llmops.rag.spec import ParsingSpec, SourceSpec


def write_pdf(
    path: Path, pages: list[list[str]], *, title: str = "", outline: list[tuple[str, int]] = ()
) -> Path:
    """Write a real PDF whose pages hold ``pages`` (lines of Helvetica text), with bookmarks."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    for lines in pages:
        page = writer.add_blank_page(612, 792)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 740 Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = DecodedStreamObject()
        stream.set_data("\n".join(ops).encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
    for heading, page_index in outline:
        writer.add_outline_item(heading, page_index)
    if title:
        writer.add_metadata({"/Title": title})
    with path.open("wb") as fh:
        writer.write(fh)
    return path


def _load(root: Path) -> tuple[list[Any], dict[str, Any]]:
    source = SourceSpec(path=".")
    docs, problems = [], {}
    for entry in discover(root, source):
        if entry.problem:
            problems[entry.rel] = entry.problem
            continue
        docs.extend(load_file(entry, source, ParsingSpec()))
    return docs, problems


def test_pdf_pages_become_sections_headed_by_outline_and_page(tmp_path: Path) -> None:
    write_pdf(
        tmp_path / "manual.pdf",
        [
            ["Installing the widget takes five minutes.", "Unpack it first."],
            ["The widget runs on 12 volts."],
            ["Clean the widget monthly with a dry cloth."],
        ],
        title="Widget manual",
        outline=[("Setup", 0), ("Care", 2)],
    )
    (docs, problems) = _load(tmp_path)
    assert problems == {}
    [doc] = docs
    assert doc.title == "Widget manual" and doc.metadata == {"pages": 3}
    sections = list(doc.sections())
    assert [s.heading_path for s in sections] == [
        ["Setup", "page 1"],
        ["Setup", "page 2"],
        ["Care", "page 3"],
    ]
    assert "five minutes" in sections[0].text and "Unpack it first" in sections[0].text
    assert "12 volts" in sections[1].text and "dry cloth" in sections[2].text


def test_pdf_title_falls_back_to_outline_then_file_name(tmp_path: Path) -> None:
    write_pdf(tmp_path / "a.pdf", [["Alpha text."]], outline=[("Alpha guide", 0)])
    write_pdf(tmp_path / "b.pdf", [["Beta text."]])
    docs, _ = _load(tmp_path)
    assert [d.title for d in docs] == ["Alpha guide", "b"]


def test_bad_pdfs_are_skipped_and_counted(tmp_path: Path) -> None:
    (tmp_path / "fake.pdf").write_text("this is not a PDF at all\n", "utf-8")
    (tmp_path / "cut.pdf").write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog")
    write_pdf(tmp_path / "blank.pdf", [[]])
    source = SourceSpec(path=".")
    entries = {e.rel: e for e in discover(tmp_path, source)}
    assert {rel: e.problem for rel, e in entries.items()} == {
        "blank.pdf": None,
        "cut.pdf": None,  # the signature is right; the loader finds the damage
        "fake.pdf": "unreadable",
    }
    with pytest.raises(ValueError, match="cut.pdf"):  # the pipeline counts it unreadable
        list(load_file(entries["cut.pdf"], source, ParsingSpec()))
    [blank] = load_file(entries["blank.pdf"], source, ParsingSpec())
    assert list(blank.sections()) == []  # no text: the pipeline counts it empty


def test_pipeline_indexes_pdfs_and_skips_broken_ones(make_pipeline: Any, project: Path) -> None:
    docs = project / "docs"
    write_pdf(
        docs / "widget.pdf",
        [["The widget's fuse is rated at 3 amperes."]],
        title="Widget manual",
        outline=[("Electrics", 0)],
    )
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog")
    pipe = make_pipeline()
    result = pipe.run()
    assert result.counts["skipped_by_reason"].get("unreadable") == 1
    from llmops.rag import Retriever

    top = Retriever(pipe).retrieve("What is the fuse rating of the widget?", k=1).chunks[0]
    assert top.source == "widget.pdf"
    assert top.heading_path == ["Electrics", "page 1"]
    assert "3 amperes" in top.text
