"""``executor: ray`` on a real local Ray cluster (a head and a worker node the tests start).

The same corpus is built once locally and once on Ray: same chunk ids, same vectors, the same
manifest, the alias switched after the complete build, even though the actor on the worker node
is killed (SIGKILL) while the build embeds. An incremental Ray run embeds only the changed text;
a driver killed mid-build leaves the alias where it was and the next run finishes the version.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ray_helpers import RAY_ENV, RayCluster, synthetic_doc

from llmops.config import load_settings
from llmops.rag import Pipeline


def _doc(i: int) -> str:
    return synthetic_doc(i)


def _project(root: Path, executor: str, address: str | None = None) -> Path:
    (root / "rag_pipelines").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "llmops.yaml").write_text("project: raytest\n")
    ray = f"ray:\n  address: '{address}'\n  actors: 2\n" if address else ""
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
    return {p.id: np.asarray(p.dense) for p in store.fetch(collection, ids)}


def _manifest(pipe: Pipeline) -> dict[str, Any]:
    """The served manifest without what differs from run to run (time, timings, collection)."""
    served = pipe.served()
    assert served is not None
    data = served.model_dump(mode="json")
    for key in ("created_at", "timings", "libraries"):
        data.pop(key)
    return data


def _subprocess_env() -> dict[str, str]:
    return {**os.environ, **RAY_ENV}  # LLMOPS_HOME: this test's state root


def test_ray_without_an_address_is_a_one_line_error(tmp_path: Path) -> None:
    # A process of its own: this test's process is connected to the cluster below.
    project = _project(tmp_path, "ray")
    env = _subprocess_env()
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run(
        [sys.executable, "-m", "llmops", "index", "run", "docs"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert "executor 'ray' needs a cluster address" in done.stderr
    assert "ray.address" in done.stderr and "Traceback" not in done.stderr


@pytest.fixture(scope="session")
def cluster() -> Iterator[RayCluster]:
    cluster = RayCluster(head_cpus=1, worker_cpus=1).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    from llmops.rag.ray_executor import close_ray_pools
    from llmops.rag.store import close_stores

    close_stores()
    # The pool's actors hold every CPU of the test cluster: a later driver's could not start.
    close_ray_pools()


def _with_ray(project: Path, extra: str) -> None:
    """Append ``extra`` lines to the ``ray:`` block of the project's pipeline file."""
    path = project / "rag_pipelines" / "docs.yaml"
    path.write_text(path.read_text() + textwrap.indent(textwrap.dedent(extra), "  "))


def _local_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ...]:
    """Build the corpus locally; return (result, points by id, manifest)."""
    monkeypatch.setenv("LLMOPS_HOME", str(tmp_path / "local-home"))
    local = Pipeline.from_name("docs", load_settings(_project(tmp_path / "local", "local")))
    result = local.run()
    points, manifest = _points(local), _manifest(local)
    from llmops.rag.store import close_stores

    close_stores()
    return result, points, manifest


def _ray_pipeline(
    cluster: RayCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ray_extra: str = ""
) -> tuple[Pipeline, Any, str, int]:
    """Return the Ray pipeline, its pool (one actor per node), the head's id and the pid of
    the worker node's actor."""
    monkeypatch.setenv("LLMOPS_HOME", str(tmp_path / "ray-home"))
    project = _project(tmp_path / "ray", "ray", cluster.address)
    if ray_extra:
        _with_ray(project, ray_extra)
    pipe = Pipeline.from_name("docs", load_settings(project))
    pool: Any = pipe.build_embedder()
    head = cluster.head_node_id()
    before = {a["node"] != head: a for a in pool.placement()}
    assert set(before) == {True, False}, f"one actor per node expected: {before}"
    return pipe, pool, head, int(before[True]["pid"])


def _assert_same_as_local(pipe: Pipeline, result: Any, reference: tuple[Any, ...]) -> None:
    local_result, expected, expected_manifest = reference
    assert result.switched and result.counts["chunks"] == local_result.counts["chunks"]
    assert result.index_version == local_result.index_version
    got = _points(pipe)
    assert sorted(got) == sorted(expected)  # the same deterministic chunk ids
    assert min(float(got[k] @ expected[k]) for k in expected) > 0.99999
    assert _manifest(pipe) == expected_manifest
    assert pipe.store().count(result.collection) == local_result.counts["chunks"]


def test_ray_build_matches_the_local_build_with_a_worker_killed_mid_build(
    cluster: RayCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _local_reference(tmp_path, monkeypatch)
    pipe, pool, _, victim = _ray_pipeline(cluster, tmp_path, monkeypatch)
    killed: list[int] = []

    def progress(stage: str, counts: dict[str, int]) -> None:
        if stage == "embed" and not killed and counts.get("embedded", 0) > 0:
            os.kill(victim, signal.SIGKILL)  # the worker process of the worker node's actor
            killed.append(victim)

    result = pipe.run(progress=progress)

    assert killed == [victim]
    assert result.counts["embedded"] == reference[0].counts["embedded"] > 32  # several slices
    assert victim not in {a["pid"] for a in pool.placement()}  # restarted
    _assert_same_as_local(pipe, result, reference)


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


def test_a_driver_killed_mid_ray_build_leaves_the_alias_and_the_next_run_resumes(
    cluster: RayCluster, tmp_path: Path
) -> None:
    project = _project(tmp_path / "ray", "local")
    env = _subprocess_env()
    command = [sys.executable, "-m", "llmops", "index", "run", "docs", "--json"]
    command += ["--executor", "ray", "--address", cluster.address]
    killed = subprocess.run(
        command,
        cwd=project,
        env={**env, "LLMOPS_FAILPOINTS": "index.mid_embed"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    settings = load_settings(project)
    pipe = Pipeline.from_name("docs", settings)
    assert pipe.served() is None  # nothing served: no partial index
    pipe.store()  # opened and closed here: the next run is another process
    from llmops.rag.store import close_stores

    close_stores()
    resumed = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr
    import json

    report = json.loads(resumed.stdout)
    assert report["counts"]["kept"] > 0  # the points the killed run wrote were kept
    assert report["counts"]["kept"] + report["counts"]["embedded"] == report["counts"]["chunks"]


def test_cli_executor_flags_are_checked(cli: Any, tmp_path: Path) -> None:
    project = _project(tmp_path, "local")
    typo = cli("index", "run", "docs", "--executor", "rya", cwd=project)
    assert typo.exit_code == 2
    assert "unknown executor 'rya' (did you mean 'ray'?)" in typo.stderr
    lone = cli("index", "run", "docs", "--address", "127.0.0.1:1", cwd=project)
    assert lone.exit_code == 2 and "--address is for --executor ray" in lone.stderr


def test_files_are_chunked_on_the_actors_and_an_actor_killed_while_chunking_is_retried(
    cluster: RayCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _local_reference(tmp_path, monkeypatch)
    # files_per_call 2: 15 calls for 30 files, alternating between the two actors
    pipe, pool, head, victim = _ray_pipeline(cluster, tmp_path, monkeypatch, "files_per_call: 2\n")
    killed: list[int] = []

    def progress(stage: str, counts: dict[str, int]) -> None:
        # 4 calls sent, 2 to each actor, none recorded yet: the victim is chunking or queued
        if stage == "dispatch" and not killed and counts["dispatched"] >= 8:
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    result = pipe.run(progress=progress)

    assert killed == [victim]
    after = {a["node"] != head: a for a in pool.placement()}
    assert after[True]["pid"] != victim  # restarted
    # The restarted actor chunked (re-run or later calls) and the other one chunked too:
    assert after[True]["chunk_calls"] >= 1 and after[False]["chunk_calls"] >= 1
    _assert_same_as_local(pipe, result, reference)


def test_an_actor_no_node_can_hold_fails_at_once_naming_the_key_and_the_cluster(
    cluster: RayCluster, tmp_path: Path
) -> None:
    project = _project(tmp_path, "local")  # no ray: block: it gets one below
    path = project / "rag_pipelines" / "docs.yaml"
    path.write_text(path.read_text() + "ray:\n  cpus_per_actor: 4\n")
    command = [sys.executable, "-m", "llmops", "index", "run", "docs"]
    done = subprocess.run(
        [*command, "--executor", "ray", "--address", cluster.address],
        cwd=project,
        env=_subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "docs.yaml" in done.stderr and "ray.cpus_per_actor" in done.stderr
    assert "'ray.cpus_per_actor': no node of the Ray cluster has 4 CPUs" in done.stderr
    assert "CPU total 2, free 2, per node [1, 1]" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 2  # the error and its hint


def test_a_pool_the_cluster_cannot_place_fails_within_its_start_timeout(
    cluster: RayCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from llmops.errors import ConfigError

    monkeypatch.setenv("LLMOPS_HOME", str(tmp_path / "home"))
    project = _project(tmp_path / "p", "ray", cluster.address)
    path = project / "rag_pipelines" / "docs.yaml"
    path.write_text(path.read_text().replace("  actors: 2\n", "", 1))
    _with_ray(project, "actors: 3\nstart_timeout: 5\n")  # 3 actors of 1 CPU, 2 CPUs
    pipe = Pipeline.from_name("docs", load_settings(project))
    assert pipe.spec.ray.actors == 3 and pipe.spec.ray.start_timeout == 5
    t0 = time.monotonic()
    with pytest.raises(ConfigError) as info:
        pipe.run()
    elapsed = time.monotonic() - t0
    assert elapsed < 5 + 60, elapsed  # the timeout, plus connecting under load
    assert info.value.key == "ray.actors" and info.value.file == str(path)
    assert info.value.line == 14  # `actors: 3` in the file
    assert "of 3 actors (1 CPU each) in 5 s (ray.start_timeout); cluster CPU total 2" in str(
        info.value
    )
    assert pipe.served() is None  # nothing built, nothing served
