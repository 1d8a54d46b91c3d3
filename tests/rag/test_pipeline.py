"""Building indexes: versions, manifests, incrementality, retention, rollback, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llmops.config import Settings
from llmops.embeddings import get_embedder, register_backend
from llmops.errors import NotFoundError, StateError
from llmops.rag import Pipeline

pytestmark = pytest.mark.slow


def _ids_in(pipe: Pipeline, collection: str) -> set[str]:
    return pipe.store().ids(collection)


def test_first_build_serves_a_version_with_a_manifest(make_pipeline: Any) -> None:
    pipe = make_pipeline()
    result = pipe.run()
    assert result.switched and result.previous_version is None
    store = pipe.store()
    assert store.alias_target("docs") == result.collection == f"docs__{result.index_version}"
    manifest = pipe.manifests.read(result.index_version)
    assert manifest is not None
    assert manifest.chunk_count == result.counts["chunks"] == store.count(result.collection)
    assert set(manifest.chunk_ids()) == _ids_in(pipe, result.collection)
    # documents: 5 files + 2 JSONL records
    assert result.counts["documents"] == 7 and result.counts["embedded"] == result.counts["chunks"]
    assert {"qdrant-client", "langchain-text-splitters", "llmops"} <= set(manifest.libraries)
    assert "deploy.md" in manifest.documents and "faq.jsonl#q2" in manifest.documents
    assert result.lineage.index_version == result.index_version
    assert result.lineage.pipeline_hash == pipe.pipeline_hash
    raw = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    assert raw["timings"]["total"] > 0 and raw["counts"]["chunks"] == manifest.chunk_count


def test_rerun_without_change_embeds_nothing(make_pipeline: Any) -> None:
    pipe = make_pipeline()
    first = pipe.run()
    again = make_pipeline().run()
    assert again.index_version == first.index_version
    assert not again.switched
    assert again.counts["embedded"] == 0 and again.counts["copied"] == 0


def test_incremental_run_embeds_only_changed_chunks(make_pipeline: Any, project: Path) -> None:
    pipe = make_pipeline()
    first = pipe.run()
    old = pipe.manifests.read(first.index_version)
    assert old is not None
    docs = project / "docs"
    (docs / "notes.txt").write_text("The annual report is due in March.\n", encoding="utf-8")
    (docs / "astronomy.rst").unlink()
    (docs / "new.md").write_text("# Gardening\n\nWater tomatoes in the morning.\n", "utf-8")
    second = make_pipeline().run()
    assert second.switched and second.index_version != first.index_version
    assert second.previous_version == first.index_version
    c = second.counts
    assert c["embedded"] == 2  # one chunk of the changed file, one of the new file
    unchanged = sum(
        len(d.chunks) for s, d in old.documents.items() if s not in ("notes.txt", "astronomy.rst")
    )
    assert c["copied"] == unchanged
    manifest = pipe.manifests.read(second.index_version)
    assert manifest is not None
    assert "astronomy.rst" not in manifest.documents and "new.md" in manifest.documents
    ids = _ids_in(pipe, second.collection)
    assert ids == set(manifest.chunk_ids())  # deleted/changed documents' chunks are gone
    # the previous version is retained and still intact (rollback target)
    assert pipe.store().count(first.collection) == old.chunk_count


def test_changed_payload_reuses_vectors_by_content(make_pipeline: Any, project: Path) -> None:
    pipe = make_pipeline()
    pipe.run()
    # front matter only: every chunk keeps its text, so no vector needs the model again
    path = project / "docs" / "deploy.md"
    path.write_text(path.read_text("utf-8").replace("team: ops", "team: platform"), "utf-8")
    result = make_pipeline().run()
    assert result.switched and result.counts["embedded"] == 0
    hit = pipe.store().client.scroll(result.collection, limit=100, with_payload=True)[0]
    teams = {p.payload["metadata"].get("team") for p in hit if p.payload["source"] == "deploy.md"}
    assert teams == {"platform"}


def test_full_rebuild_embeds_everything(make_pipeline: Any) -> None:
    pipe = make_pipeline()
    first = pipe.run()
    again = make_pipeline().run(full=True)
    assert again.index_version == first.index_version
    assert again.counts["embedded"] == again.counts["chunks"]
    assert pipe.store().count(again.collection) == again.counts["chunks"]


def test_retention_collects_old_versions(make_pipeline: Any, project: Path) -> None:
    pipe = make_pipeline()
    versions = []
    for i in range(3):
        (project / "docs" / "extra.txt").write_text(f"Extra note number {i}.\n", "utf-8")
        versions.append(make_pipeline().run())
    kept = {c for c in pipe.store().collections() if c.startswith("docs__")}
    assert kept == {versions[2].collection, versions[1].collection}  # retention: 2
    assert pipe.manifests.read(versions[0].index_version) is None


def test_rollback_switches_back_and_forward(make_pipeline: Any, project: Path, cli: Any) -> None:
    pipe = make_pipeline()
    first = pipe.run()
    (project / "docs" / "extra.txt").write_text("A new note.\n", "utf-8")
    second = make_pipeline().run()
    previous, now = pipe.rollback()
    assert (previous, now) == (second.index_version, first.index_version)
    assert pipe.store().alias_target("docs") == first.collection
    with pytest.raises(NotFoundError):
        pipe.rollback("ffffffff")
    from llmops.rag.store import close_stores

    close_stores()
    res = cli("index", "rollback", "docs", "--to", second.index_version[:6], "--json", cwd=project)
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["index_version"] == second.index_version


def test_bad_inputs_are_skipped_and_counted(make_pipeline: Any, project: Path) -> None:
    docs = project / "docs"
    (docs / "binary.md").write_bytes(b"\x00\x01\x02 binary \x00")
    (docs / "latin1.txt").write_bytes("Le caf\xe9 cr\xe8me est tr\xe8s bon.\n".encode("latin-1"))
    (docs / "noise.txt").write_bytes(b"\x81\x8d\x9d\xfe\xff" * 40)  # no encoding fits
    (docs / "empty.md").write_text("   \n\n", "utf-8")
    (docs / "copy-of-notes.txt").write_text((docs / "notes.txt").read_text("utf-8"), "utf-8")
    os.symlink("/proc/self/mem", docs / "unreadable.txt")  # reading fails with EIO, even as root
    with open(docs / "huge.txt", "wb") as fh:  # 1.1 GB (over max_file_mb), sparse on disk
        fh.truncate(1100 * 1024 * 1024)
    result = make_pipeline().run()
    skipped = result.counts["skipped_by_reason"]
    assert skipped == {
        "binary": 1, "non_utf8": 1, "empty": 1, "unreadable": 1, "too_large": 1
    }  # fmt: skip
    assert result.counts["duplicates"] == 1
    assert result.counts["documents"] == 8  # the Latin-1 file is decoded and indexed
    assert result.counts["skipped_files"] == {
        "binary.md": "binary", "empty.md": "empty", "huge.txt": "too_large",
        "noise.txt": "non_utf8", "unreadable.txt": "unreadable",
    }  # fmt: skip
    assert result.counts["decoded"] == {"latin1.txt": "cp1252"}
    manifest = make_pipeline().manifests.read(result.index_version)
    assert manifest is not None
    assert manifest.files["0:latin1.txt"].encoding == "cp1252"
    latin = [c for c in make_pipeline().store().fetch(result.collection, manifest.chunk_ids())
             if c.payload["source"] == "latin1.txt"]  # fmt: skip
    assert [c.payload["text"].strip() for c in latin] == ["Le café crème est très bon."]
    # files are visited in sorted order; the later copy is recorded as the duplicate
    assert manifest.files["0:notes.txt"].duplicate_of == "0:copy-of-notes.txt"
    assert manifest.files["0:huge.txt"].skipped == "too_large"


def _doubled(model: str, device: str) -> Any:
    """A real backend with another dimension: MiniLM vectors repeated twice (768 dims)."""
    inner = get_embedder(model, device=device)

    class Doubled:
        model_id = f"doubled:{inner.model_id}"
        dim = inner.dim * 2
        max_seq_length = inner.max_seq_length

        def encode(self, texts: Any, *, batch_size: int = 32, normalize: bool = True) -> Any:
            vecs = inner.encode(texts, batch_size=batch_size, normalize=normalize)
            return np.hstack([vecs, vecs]) / np.sqrt(2)

        def count_tokens(self, text: str) -> int:
            return inner.count_tokens(text)

    return Doubled()


def test_model_with_other_dimension_is_refused_without_full(
    make_pipeline: Any, project: Path
) -> None:
    register_backend("doubled", _doubled)
    make_pipeline().run()
    path = project / "rag_pipelines" / "docs.yaml"
    text = path.read_text("utf-8").replace(
        "  batch_size: 8\n", "  batch_size: 8\n  model: doubled:all-MiniLM-L6-v2\n"
    )
    path.write_text(text, "utf-8")
    with pytest.raises(StateError, match="--full"):
        make_pipeline().run()
    rebuilt = make_pipeline().run(full=True)
    assert make_pipeline().store().dense_dim(rebuilt.collection) == 768


def test_missing_pipeline_suggests_a_name(settings: Settings) -> None:
    with pytest.raises(NotFoundError, match="did you mean 'docs'"):
        Pipeline.from_name("doc", settings)


def test_a_failed_background_write_fails_the_build_and_keeps_the_alias(
    make_pipeline: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmops.rag.store import VectorStore

    pipe = make_pipeline()
    first = pipe.run()
    (project / "docs" / "notes.txt").write_text("A brand new sentence.\n" * 40, encoding="utf-8")
    calls = {"n": 0}
    real = VectorStore.upsert

    def flaky(self: VectorStore, name: str, points: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the writer thread's second window
            raise OSError("disk full")
        real(self, name, points)

    monkeypatch.setattr(VectorStore, "upsert", flaky)
    with pytest.raises(OSError, match="disk full"):
        make_pipeline().run(full=True)
    assert pipe.store().alias_target("docs") == first.collection
    monkeypatch.setattr(VectorStore, "upsert", real)
    again = make_pipeline().run()
    assert again.switched and pipe.store().count(again.collection) == again.counts["chunks"]
