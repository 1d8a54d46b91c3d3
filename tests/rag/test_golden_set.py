"""The shipped golden set: format, size, and every cited source exists in the sample corpus."""

from __future__ import annotations

import json
from pathlib import Path

from llmops.rag.corpus import export_python_docs


def test_golden_set_format_and_sources(repo_root: Path, tmp_path: Path) -> None:
    export_python_docs(tmp_path)
    lines = (repo_root / "golden_sets" / "python-docs.jsonl").read_text("utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    assert len(records) >= 60
    assert len({r["id"] for r in records}) == len(records)
    keys = {"id", "input", "reference", "reference_sources", "tags", "answerable", "attributes"}
    unanswerable = 0
    for r in records:
        assert set(r) == keys, r["id"]
        assert r["input"].strip() and r["reference"].strip() and r["tags"]
        if r["answerable"]:
            assert r["reference_sources"], r["id"]
            for source in r["reference_sources"]:
                assert (tmp_path / source).is_file(), (r["id"], source)
        else:
            unanswerable += 1
            assert r["reference"] == "I don't know" and r["reference_sources"] == []
    assert unanswerable >= 10


def test_every_reference_is_backed_by_its_source(repo_root: Path, tmp_path: Path) -> None:
    """Each answerable record has an evidence phrase that must occur in the cited file."""
    export_python_docs(tmp_path)
    evidence = json.loads((Path(__file__).parent / "golden_evidence.json").read_text("utf-8"))
    lines = (repo_root / "golden_sets" / "python-docs.jsonl").read_text("utf-8").splitlines()
    answerable = [r for r in map(json.loads, filter(None, lines)) if r["answerable"]]
    assert {r["id"] for r in answerable} == set(evidence)
    missing = []
    for r in answerable:
        text = " ".join((tmp_path / r["reference_sources"][0]).read_text("utf-8").split())
        if " ".join(evidence[r["id"]].split()) not in text:
            missing.append(r["id"])
    assert not missing, missing


def test_rag_exports_are_pinned() -> None:
    import llmops.rag

    for name in llmops.rag.__all__:  # lazy names: each resolves (and is cached) on first use
        getattr(llmops.rag, name)
    public = {
        n
        for n in vars(llmops.rag)
        if not n.startswith("_") and n not in {"annotations", "TYPE_CHECKING"}
    }
    modules = {n for n in public if type(getattr(llmops.rag, n)).__name__ == "module"}
    assert public - modules == set(llmops.rag.__all__)


def test_sample_corpus_export_is_byte_identical_across_processes(tmp_path: Path) -> None:
    """Object addresses in signatures would make every run see 'changed' sources."""
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; from llmops.rag.corpus import export_python_docs; "
        "export_python_docs(Path(sys.argv[1]), topics=[], "
        "modules=['dataclasses', 'difflib', 'logging', 'shutil', 'urllib.parse'])"
    )
    for name in ("a", "b"):
        subprocess.run([sys.executable, "-c", code, str(tmp_path / name)], check=True, timeout=120)
    first = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*.md")}
    second = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in (tmp_path / "b").rglob("*.md")}
    assert first and first == second
    assert not any(b" at 0x" in data for data in first.values())
