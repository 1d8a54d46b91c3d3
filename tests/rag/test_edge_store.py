"""Qdrant Edge behind the VectorStore seam: the store, backend selection, builds, migration."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmops.config import load_settings
from llmops.errors import ConfigError
from llmops.failpoints import ENV, FailpointError, enabled
from llmops.rag import Pipeline
from llmops.rag.edge_store import EdgeStore
from llmops.rag.migration import migrate
from llmops.rag.qdrant_store import QdrantStore
from llmops.rag.retriever import Retriever
from llmops.rag.store import Point, Query, close_stores, edge_path, open_store

ROOT = Path(__file__).resolve().parents[2]

SAMPLE = """\
name: sample
sources:
  - type: pydoc
    topics: [global, nonlocal, assert, pass, del, return, yield, raise, break, continue,
             import, with, try, for, while, if, lambda, slicings, comparisons, booleans]
    modules: [json, textwrap, shlex]
chunking:
  chunk_size: 250
  chunk_overlap: 32
store:
  upsert_batch: 64
"""


def _vec(*xs: float) -> list[float]:
    return [float(x) for x in xs]


def _points() -> list[Point]:
    import uuid

    out = []
    for i in range(6):
        out.append(
            Point(
                id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"p{i}")),
                payload={"text": f"t{i}", "metadata": {"team": "a" if i % 2 else "b"}},
                dense=_vec(1.0, i, 0.5, 0.0),
                sparse=([1, 10 + i], [1.0, 0.5]),
            )
        )
    return out


@pytest.mark.parametrize("backend", ["edge", "local"])
def test_both_embedded_backends_keep_the_store_contract(settings: Any, backend: str) -> None:
    store = open_store(settings, backend)
    assert isinstance(store, EdgeStore if backend == "edge" else QdrantStore)
    store.create("c__1", 4, sparse=True)
    assert store.exists("c__1") and store.collections() == ["c__1"]
    assert store.dense_dim("c__1") == 4 and store.has_sparse("c__1")
    with store.bulk_writes("c__1"):
        store.upsert("c__1", _points())
    assert store.count("c__1") == 6
    store.switch_alias("c", "c__1")
    assert store.alias_target("c") == "c__1" and store.dense_dim("c") == 4
    hits = store.search("c", Query(dense=_vec(1, 0, 0.5, 0), limit=3, with_dense=True))
    assert [h.payload["text"] for h in hits] == ["t0", "t1", "t2"]
    assert hits[0].score == pytest.approx(1.0, abs=1e-5) and hits[0].dense is not None
    team_a = store.search(
        "c", Query(dense=_vec(1, 0, 0.5, 0), limit=6, filters={"metadata.team": "a"})
    )
    assert [h.payload["text"] for h in team_a] == ["t1", "t3", "t5"]
    anyof = store.search(
        "c", Query(dense=_vec(1, 0, 0.5, 0), limit=6, filters={"metadata.team": ["a", "b"]})
    )
    assert len(anyof) == 6
    hybrid = store.search("c", Query(dense=_vec(1, 0, 0.5, 0), limit=3, sparse=([15], [1.0])))
    assert hybrid[0].payload["text"] in {"t0", "t5"} and len(hybrid) == 3
    ids = [p.id for p in _points()]
    assert store.ids("c__1") == set(ids)
    fetched = store.fetch("c__1", [ids[2], "00000000-0000-0000-0000-000000000000"])
    assert len(fetched) == 1 and fetched[0].sparse == ([1, 12], [1.0, 0.5])
    assert fetched[0].dense is not None and len(fetched[0].dense) == 4
    store.delete("c__1", ids[:2])
    assert store.count("c__1") == 4
    assert len(store.payloads("c", ["metadata"], 3)) == 3
    close_stores()
    store = open_store(settings, backend)  # reopened: everything was durable
    assert store.alias_target("c") == "c__1" and store.count("c") == 4
    store.drop("c__1")
    assert not store.exists("c__1") and store.collections() == []


def test_a_bulk_write_past_the_indexing_threshold_is_served_from_hnsw(settings: Any) -> None:
    # 7,000 MiniLM-sized vectors are past Edge's default indexing threshold: bulk_writes ends
    # with optimize(), which builds the HNSW graphs; the searches then run on them.
    import numpy as np

    store = open_store(settings, "edge")
    assert isinstance(store, EdgeStore)
    store.create("big__1", 384, sparse=False)
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(50, 384))
    vectors = centres[rng.integers(0, 50, 7000)] + rng.normal(scale=0.6, size=(7000, 384))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(len(vectors))]
    with store.bulk_writes("big__1"):
        for start in range(0, len(vectors), 1000):
            store.upsert(
                "big__1",
                [
                    Point(id=ids[i], payload={"i": i}, dense=vectors[i].tolist())
                    for i in range(start, min(start + 1000, len(vectors)))
                ],
            )
    info = store._shard("big__1").info()
    assert info.indexed_vectors_count == 7000  # every vector is in an HNSW graph
    queries = vectors[:20] + rng.normal(scale=0.05, size=(20, 384)).astype(np.float32)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    hits = 0
    for query, want in zip(queries, exact, strict=True):
        got = store.search("big__1", Query(dense=query.tolist(), limit=10))
        assert len(got) == 10 and got[0].score >= got[-1].score
        hits += len({h.payload["i"] for h in got} & set(want.tolist()))
    assert hits / 200 >= 0.9  # recall@10 against exact search


def test_edge_store_is_owned_by_one_process(settings: Any) -> None:
    open_store(settings, "edge")
    code = (
        "import sys; from llmops.config import load_settings; from llmops.rag.store import "
        "open_store\ntry:\n    open_store(load_settings(sys.argv[1]), 'edge')\n"
        "except Exception as e:\n    print(type(e).__name__, e.message); sys.exit(3)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(settings.root)], capture_output=True, text=True
    )
    assert done.returncode == 3, done.stderr
    assert "StateError" in done.stdout and str(os.getpid()) in done.stdout
    assert str(edge_path(settings)) in done.stdout


def test_a_new_pipeline_is_built_on_edge_and_incremental_runs_and_rollback_work(
    project: Path, make_pipeline: Any
) -> None:
    pipe = make_pipeline()
    first = pipe.run()
    assert isinstance(pipe.store(), EdgeStore)
    marker = pipe.manifests.root / "store.json"
    assert json.loads(marker.read_text())["backend"] == "edge"
    assert not (pipe.settings.qdrant_path / "collection").exists()  # local mode untouched
    n = first.counts["chunks"]
    assert pipe.store().count(pipe.spec.alias) == n
    (project / "docs" / "notes.txt").write_text("Reports are due on Fridays now.\n")
    second = pipe.run()
    assert second.switched and second.counts["embedded"] <= 2
    assert second.counts["copied"] == n - 1
    hits = Retriever(pipe).retrieve("when are reports due?", k=1)
    assert "Fridays" in hits.chunks[0].text
    again = pipe.run()  # nothing changed: same version, nothing embedded
    assert again.index_version == second.index_version and again.counts["embedded"] == 0
    previous, now = pipe.rollback()
    assert (previous, now) == (second.index_version, first.index_version)
    assert pipe.store().alias_target(pipe.spec.alias) == first.collection


def test_a_killed_edge_build_never_serves_a_partial_index(project: Path, settings: Any) -> None:
    pipe = Pipeline.from_name("docs", settings)
    first = pipe.run()
    close_stores()
    for i in range(10):
        (project / "docs" / f"extra{i}.md").write_text(
            f"# Extra {i}\n\n" + " ".join(f"word{i}x{j}" for j in range(120)), encoding="utf-8"
        )
    env = {**os.environ, ENV: "index.mid_embed"}
    proc = subprocess.run(
        [sys.executable, "-m", "llmops", "index", "run", "docs"],
        cwd=project,
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-500:]
    pipe = Pipeline.from_name("docs", settings)
    assert pipe.store().alias_target("docs") == first.collection
    assert pipe.store().count("docs") == first.counts["chunks"]
    result = pipe.run()  # resumes into the partial collection
    assert result.switched and result.counts["kept"] > 0
    manifest = pipe.manifests.read(result.index_version)
    assert manifest is not None
    assert pipe.store().ids("docs") == set(manifest.chunk_ids())


def test_backend_selection_errors_name_file_line_and_key(project: Path, settings: Any) -> None:
    path = project / "rag_pipelines" / "docs.yaml"
    text = path.read_text()
    path.write_text(text + "  backend: server\n")
    pipe = Pipeline.from_name("docs", settings)
    with pytest.raises(ConfigError) as err:
        pipe.store()
    assert err.value.key == "store.backend" and err.value.file == str(path)
    assert err.value.line == len(text.splitlines()) + 1 and "qdrant.url" in (err.value.hint or "")
    path.write_text(text + "  backend: egde\n")
    with pytest.raises(ConfigError) as bad:
        Pipeline.from_name("docs", settings)
    assert bad.value.key == "store.backend" and bad.value.line == len(text.splitlines()) + 1
    (project / "llmops.yaml").write_text("qdrant:\n  embedded: edgy\n")
    with pytest.raises(ConfigError) as conf:
        load_settings(project)
    assert conf.value.key == "qdrant.embedded" and conf.value.line == 2


def test_explicit_and_project_level_backends(project: Path) -> None:
    (project / "llmops.yaml").write_text("qdrant:\n  embedded: local\n")
    pipe = Pipeline.from_name("docs", load_settings(project))
    assert isinstance(pipe.store(), QdrantStore)
    close_stores()
    # the record wins over a changed project default: the index stays where it was built
    (project / "llmops.yaml").write_text("project: x\n")
    assert isinstance(Pipeline.from_name("docs", load_settings(project)).store(), QdrantStore)


def test_an_index_built_before_edge_stays_on_local_mode_until_migrated(
    project: Path, settings: Any
) -> None:
    pipe = Pipeline.from_name("docs", settings)
    pipe.spec.store.backend = "local"  # as an index built by the previous release
    built = pipe.run()
    close_stores()
    assert not (pipe.manifests.root / "store.json").exists()
    pipe = Pipeline.from_name("docs", settings)
    assert isinstance(pipe.store(), QdrantStore)
    assert pipe.served() is not None and pipe.served().index_version == built.index_version  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def sample_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A slice of the sample corpus (real MiniLM vectors) built once in local mode."""
    root = tmp_path_factory.mktemp("edge-sample")
    (root / "rag_pipelines").mkdir()
    (root / "llmops.yaml").write_text("qdrant:\n  embedded: local\n")
    (root / "rag_pipelines" / "sample.yaml").write_text(SAMPLE)
    old = os.environ.get("LLMOPS_HOME")
    os.environ["LLMOPS_HOME"] = str(root / ".llmops")
    try:
        Pipeline.from_name("sample", load_settings(root)).run()
    finally:
        close_stores()
        if old is None:
            os.environ.pop("LLMOPS_HOME", None)
        else:
            os.environ["LLMOPS_HOME"] = old
    return root


def _questions() -> list[str]:
    lines = (ROOT / "golden_sets" / "python-docs.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line)["input"] for line in lines[:25]]


def _answers(pipe: Pipeline, hybrid: bool) -> list[list[tuple[str, float]]]:
    retriever = Retriever(pipe)
    out = []
    for q in _questions():
        result = retriever.retrieve(q, k=8, hybrid=hybrid)
        out.append([(c.id, round(c.score, 4)) for c in result.chunks])
    return out


def _best(ranked: list[tuple[str, float]]) -> set[str]:
    """The ids tied for first place."""
    return {i for i, s in ranked if s == ranked[0][1]}


def _same_ranking(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> bool:
    """Same scores rank by rank, same ids; RRF ties (equal fused scores) may come in any order,
    and a tie at the cut-off may keep different ids."""
    if [s for _, s in a] != [s for _, s in b]:
        return False
    cut = a[-1][1] if a else 0.0
    return {p for p in a if p[1] > cut} == {p for p in b if p[1] > cut}


def test_migration_to_edge_keeps_every_answer_and_is_atomic_and_idempotent(
    sample_project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import shutil

    root = tmp_path / "p"
    shutil.copytree(sample_project, root)
    monkeypatch.setenv("LLMOPS_HOME", str(root / ".llmops"))
    settings = load_settings(root)
    pipe = Pipeline.from_name("sample", settings)
    assert isinstance(pipe.store(), QdrantStore)
    served = pipe.served()
    assert served is not None and served.chunk_count > 50
    dense, hybrid = _answers(pipe, False), _answers(pipe, True)
    # a crash before the switch: local mode still serves, the record is unchanged
    marker = pipe.manifests.root / "store.json"
    assert json.loads(marker.read_text())["backend"] == "local"
    with enabled("index.before_migrate_switch"), pytest.raises(FailpointError):
        migrate(pipe, "edge")
    assert json.loads(marker.read_text())["backend"] == "local"
    pipe = Pipeline.from_name("sample", settings)
    assert isinstance(pipe.store(), QdrantStore) and _answers(pipe, False) == dense
    result = migrate(pipe, "edge")
    assert result.moved and result.source == "local" and result.points == served.chunk_count
    close_stores()
    pipe = Pipeline.from_name("sample", settings)
    assert isinstance(pipe.store(), EdgeStore)
    assert pipe.served() is not None and pipe.served().index_version == served.index_version  # type: ignore[union-attr]
    assert _answers(pipe, False) == dense  # same ids, same order, same scores (4 places)
    # hybrid: the dense half is identical; the sparse half's BM25 ties and IDF may rank a
    # tail chunk one place apart, which moves fused (RRF) scores by a few thousandths
    pairs = list(zip(_answers(pipe, True), hybrid, strict=True))
    # the same best chunk for every question (a tie for first place, equal fused scores, may
    # come in either order, so the tied group is compared)
    firsts = [(e[:3], h[:3]) for e, h in pairs if _best(e) != _best(h)]
    assert not firsts, firsts
    overlap = [len({i for i, _ in e} & {i for i, _ in h}) / len(h) for e, h in pairs]
    assert sum(overlap) / len(overlap) >= 0.9, overlap
    assert sum(_same_ranking(e, h) for e, h in pairs) >= len(pairs) // 2
    assert not migrate(pipe, "edge").moved  # idempotent
    # incremental on Edge reuses the migrated vectors: nothing re-embedded
    assert pipe.run().counts["embedded"] == 0
    back = migrate(pipe, "local", drop_source=True)
    assert back.moved and back.dropped_source
    assert edge_path(settings).is_dir() and not any((edge_path(settings) / "collections").iterdir())


def test_a_kill_mid_migration_leaves_the_old_store_serving(
    sample_project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import shutil

    root = tmp_path / "p"
    shutil.copytree(sample_project, root)
    env = {**os.environ, "LLMOPS_HOME": str(root / ".llmops"), ENV: "index.mid_migrate"}
    cmd = [sys.executable, "-m", "llmops", "index", "migrate", "sample", "--to", "edge"]
    killed = subprocess.run(cmd, cwd=root, env=env, capture_output=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-500:]
    monkeypatch.setenv("LLMOPS_HOME", str(root / ".llmops"))
    pipe = Pipeline.from_name("sample", load_settings(root))
    assert isinstance(pipe.store(), QdrantStore) and pipe.served() is not None
    close_stores()
    env.pop(ENV)
    done = subprocess.run(cmd + ["--json"], cwd=root, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr[-500:]
    assert json.loads(done.stdout)["moved"] is True
    again = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_migrate_refuses_a_pinned_backend_with_file_line_and_key(
    project: Path, settings: Any
) -> None:
    path = project / "rag_pipelines" / "docs.yaml"
    path.write_text(path.read_text() + "  backend: local\n")
    with pytest.raises(ConfigError) as err:
        migrate(Pipeline.from_name("docs", settings), "edge")
    assert err.value.key == "store.backend" and err.value.line is not None


def test_edge_query_needs_no_qdrant_client_import(project: Path) -> None:
    """The serving path on Edge never imports qdrant_client (1.4 s of import)."""
    code = (
        "import sys\nfrom llmops.rag import Pipeline\nfrom llmops.rag.retriever import Retriever\n"
        "p = Pipeline.from_name('docs')\np.run()\n"
        "Retriever(p).retrieve('how do I roll back?', k=2, hybrid=True)\n"
        "print('qdrant_client' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-800:]
    assert done.stdout.strip().splitlines()[-1] == "False"
