"""``executor: ray`` on a real local Ray cluster (a head and a worker node the tests start).

The same corpus is built once locally and once on Ray: same chunk ids, same vectors, the alias
switched after the complete build, even though the actor on the worker node is killed
(SIGKILL) while the build embeds. Then an incremental Ray run embeds only the changed text.
"""

from __future__ import annotations

import os
import signal
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ray_helpers import RayCluster

from llmops.config import load_settings
from llmops.errors import ConfigError, UsageError
from llmops.rag import Pipeline

TOPICS = ["rivers", "volcanoes", "orchards", "harbours", "glaciers", "libraries", "bridges"]


def _doc(i: int) -> str:
    topic = TOPICS[i % len(TOPICS)]
    paragraphs = [
        f"Document {i} is about {topic}. Paragraph {p} describes how {topic} change over the "
        f"seasons, who looks after them, and what record number {i * 10 + p} says about "
        f"their history in the region."
        for p in range(4)
    ]
    return f"# {topic.title()} {i}\n\n" + "\n\n".join(paragraphs) + "\n"


def _project(root: Path, executor: str, address: str | None = None) -> Path:
    (root / "rag_pipelines").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "llmops.yaml").write_text("project: raytest\n")
    ray = f"ray:\n  address: {address}\n  actors: 2\n" if address else ""
    (root / "rag_pipelines" / "docs.yaml").write_text(
        textwrap.dedent(
            f"""\
            name: docs
            sources:
              - path: docs
            chunking:
              chunk_size: 48
              chunk_overlap: 0
            embedding:
              batch_size: 8
            store:
              upsert_batch: 16
            executor: {executor}
            """
        )
        + ray
    )
    for i in range(30):
        (root / "docs" / f"doc{i:02d}.md").write_text(_doc(i))
    return root


def _points(pipe: Pipeline) -> dict[str, np.ndarray]:
    store = pipe.store()
    collection = store.alias_target(pipe.spec.alias)
    assert collection is not None
    ids = sorted(store.ids(collection))
    return {str(p.id): np.asarray(p.vector["dense"]) for p in store.fetch(collection, ids)}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    cluster = RayCluster(tmp_path_factory.mktemp("ray")).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    from llmops.rag.store import close_stores

    close_stores()


def test_ray_build_matches_the_local_build_with_a_worker_killed_mid_build(
    cluster: RayCluster, tmp_path: Path
) -> None:
    local = Pipeline.from_name("docs", load_settings(_project(tmp_path / "local", "local")))
    local_result = local.run()
    expected = _points(local)

    project = _project(tmp_path / "ray", "ray", cluster.address)
    pipe = Pipeline.from_name("docs", load_settings(project))
    pool: Any = pipe.build_embedder()
    head = cluster.head_node_id()
    before = {a["node"] != head: a for a in pool.placement()}
    assert set(before) == {True, False}, f"one actor per node expected: {before}"
    victim = before[True]["pid"]
    killed: list[int] = []

    def progress(stage: str, counts: dict[str, int]) -> None:
        if stage == "embed" and not killed and counts.get("embedded", 0) > 0:
            os.kill(victim, signal.SIGKILL)  # the worker process of the worker node's actor
            killed.append(victim)

    result = pipe.run(progress=progress)

    assert killed == [victim]
    assert result.switched and result.counts["chunks"] == local_result.counts["chunks"]
    assert result.counts["embedded"] == local_result.counts["embedded"] > 32  # several slices
    after = pool.placement()
    assert victim not in {a["pid"] for a in after}  # restarted, and it encoded again
    assert sum(a["calls"] for a in after) > 0
    got = _points(pipe)
    assert sorted(got) == sorted(expected)  # the same deterministic chunk ids
    cosines = [float(got[k] @ expected[k]) for k in expected]
    assert min(cosines) > 0.99999
    assert pipe.store().count(result.collection) == local_result.counts["chunks"]


def test_an_incremental_ray_run_embeds_only_the_changed_text(
    cluster: RayCluster, tmp_path: Path
) -> None:
    project = _project(tmp_path / "ray", "ray", cluster.address)
    pipe = Pipeline.from_name("docs", load_settings(project))
    first = pipe.run()
    (project / "docs" / "doc03.md").write_text(_doc(3) + "\nA new closing line about otters.\n")
    second = Pipeline.from_name("docs", load_settings(project)).run()
    assert second.switched and second.previous_version == first.index_version
    assert 0 < second.counts["embedded"] <= 2
    assert second.counts["copied"] >= first.counts["chunks"] - 2
    third = Pipeline.from_name("docs", load_settings(project)).run()
    assert third.counts["embedded"] == 0 and third.index_version == second.index_version
    restored, _ = Pipeline.from_name("docs", load_settings(project)).rollback()
    assert restored == second.index_version


def test_ray_without_an_address_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    import ray

    if ray.is_initialized():  # the module's cluster connection would be reused
        pytest.fail("run this test on its own or before the cluster fixture")
    pipe = Pipeline.from_name("docs", load_settings(_project(tmp_path, "ray")))
    with pytest.raises(ConfigError, match="needs a cluster address"):
        pipe.build_embedder()


def test_cli_executor_flags_are_checked() -> None:
    from llmops.rag.ray_executor import with_executor

    class Fake:
        spec: Any

    fake = Fake()
    from llmops.rag.spec import PipelineSpec

    fake.spec = PipelineSpec.model_validate({"name": "d", "sources": [{"path": "docs"}]})
    with pytest.raises(UsageError, match="did you mean 'ray'"):
        with_executor(fake, "rya", None)
    with pytest.raises(UsageError, match="--address is for --executor ray"):
        with_executor(fake, None, "127.0.0.1:1")
    with_executor(fake, "ray", "127.0.0.1:6379")
    assert fake.spec.executor == "ray" and fake.spec.ray.address == "127.0.0.1:6379"
