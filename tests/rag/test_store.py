"""One store owner per embedded folder; a server URL goes through the same code."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from llmops.config import load_settings
from llmops.errors import StateError
from llmops.rag import Pipeline, Retriever
from llmops.rag.qdrant_store import QdrantStore
from llmops.rag.store import VectorStore, close_stores, open_store

pytestmark = pytest.mark.slow

HOLDER = """
import sys, time
from llmops.config import load_settings
from llmops.rag.store import open_store
open_store(load_settings(sys.argv[1]))
print("ready", flush=True)
time.sleep(60)
"""


def test_same_process_shares_one_client(settings: Any) -> None:
    assert open_store(settings) is open_store(load_settings(settings.root))


def test_second_process_gets_a_clear_error_naming_the_owner(settings: Any) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(settings.root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        with pytest.raises(StateError) as err:
            open_store(settings)
        assert f"pid {proc.pid}" in err.value.message
        assert str(settings.qdrant_path) in err.value.message
        assert err.value.hint is not None and "qdrant.url" in err.value.hint
    finally:
        proc.kill()
        proc.wait()
    assert open_store(settings) is not None  # the lock died with its owner


def test_build_while_serving_in_the_same_process(make_pipeline: Any, project: Path) -> None:
    """The gateway case: it holds the store for queries and runs a build in-process."""
    pipe = make_pipeline()
    pipe.run()
    retriever = Retriever.from_pipeline(pipe)
    before = retriever.retrieve("Which planet is the largest?", k=1)
    (project / "docs" / "notes.txt").write_text("Saturn has rings of ice.\n", "utf-8")
    built = make_pipeline().run()
    after = retriever.retrieve("Which planet has rings of ice?", k=1)
    assert after.lineage.index_version == built.index_version != before.lineage.index_version
    assert after.chunks[0].source == "notes.txt"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_server_fails_clearly_and_changes_nothing(
    make_pipeline: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipe = make_pipeline()
    first = pipe.run()
    close_stores()
    url = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("LLMOPS_QDRANT_URL", url)
    monkeypatch.setenv("LLMOPS_QDRANT_TIMEOUT", "2")
    (project / "docs" / "notes.txt").write_text("changed\n", "utf-8")
    start = time.monotonic()
    with pytest.raises(StateError) as err:
        Pipeline.from_name("docs", load_settings(project)).run()
    assert url in err.value.message and time.monotonic() - start < 30
    monkeypatch.delenv("LLMOPS_QDRANT_URL")
    local = Pipeline.from_name("docs", load_settings(project))
    assert local.store().alias_target("docs") == first.collection
    assert [m.index_version for m in local.manifests.versions()] == [first.index_version]


def test_pipeline_runs_on_any_client_through_one_interface(settings: Any) -> None:
    """A server client and the embedded one share VectorStore; prove it with ':memory:'."""
    from qdrant_client import QdrantClient

    pipe = Pipeline.from_name("docs", settings)
    pipe._store = QdrantStore(client=QdrantClient(location=":memory:"), where=":memory:")
    assert isinstance(pipe._store, VectorStore)
    result = pipe.run()
    assert pipe.store().count(result.collection) == result.counts["chunks"]
    hits = Retriever(pipe).retrieve("How long should pasta cook?", k=1, hybrid=True)
    assert hits.chunks[0].source == "cooking/pasta.md"
    assert not settings.qdrant_path.exists() or not any(settings.qdrant_path.iterdir())


def test_qdrant_client_stays_behind_the_store_seam() -> None:
    """Only Qdrant backends (rag/qdrant*.py) import qdrant-client; one reads its internals."""
    import llmops

    package = Path(llmops.__file__).parent
    backend = package / "rag" / "qdrant_store.py"
    leaks = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if not (path.parent.name == "rag" and path.name.startswith("qdrant"))
        and "qdrant_client" in path.read_text(encoding="utf-8")
    ]
    assert leaks == []
    private = [
        line.strip()
        for line in backend.read_text(encoding="utf-8").splitlines()
        if ("._client" in line or '"_client"' in line) and not line.strip().startswith("``")
    ]
    assert len(private) == 1 and 'getattr(client, "_client"' in private[0]  # _local_sqlite


def test_a_closed_store_is_reopened(settings: Any) -> None:
    first = open_store(settings)
    first.close()
    assert first.closed
    again = open_store(settings)
    assert again is not first and not again.closed
    assert again.collections() == again.collections()  # usable
