"""The index build on Ray vs the local build of the same corpus (``bench_scale.py --part build``).

One Ray node started here (``ray start --head`` on loopback, ``--num-cpus 2``, with the tests'
launcher: tests/scale/ray_helpers.py; its start-up is reported as its own row, not in any
build), then ``llmops index run docs --full --json`` of one synthetic corpus (1,200 files,
~8,000 chunks of <= 64 tokens: big enough that fixed costs show, not so big they vanish) in
alternation: ``--executor local`` (the ONNX embedder in the CLI's process, two intra-op
threads, one per core) and ``--executor ray --address ...`` (two actors of one CPU each on
the node: as many embedding workers as cores; they also load and chunk the files). Both use
the ONNX backend. Each run is its own CLI process with its own fresh state root, so both pay
the same start-up, discovery, store and verification costs, and the Ray runs also pay
connecting to the cluster and starting the actor pool (each actor loads the model): what a
user of the CLI pays. Target: Ray / local <= 1.3 on one node.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "scale"))  # ray_helpers: the tests' Ray launcher


def _corpus(folder: Path, docs: int) -> None:
    """``docs`` markdown files of 6 paragraphs, every paragraph different."""
    from ray_helpers import synthetic_doc

    folder.mkdir(parents=True)
    for i in range(docs):
        (folder / f"doc{i:05d}.md").write_text(synthetic_doc(i, paragraphs=6))


def _project(root: Path, docs: int) -> Path:
    (root / "rag_pipelines").mkdir(parents=True)
    (root / "llmops.yaml").write_text("project: bench-build\n")
    pipeline = """\
        name: docs
        sources:
          - path: docs
        chunking:
          chunk_size: 64
          chunk_overlap: 0
        ray:
          actors: 2
          cpus_per_actor: 1
        """
    (root / "rag_pipelines" / "docs.yaml").write_text(textwrap.dedent(pipeline))
    _corpus(root / "docs", docs)
    return root


def _run(project: Path, state: Path, extra: list[str]) -> dict[str, Any]:
    env = {**os.environ, "LLMOPS_HOME": str(state), "RAY_USAGE_STATS_ENABLED": "0"}
    cmd = [sys.executable, "-m", "llmops", "index", "run", "docs", "--full", "--json", *extra]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    return {"wall": wall, "embed": report["timings"].get("embed"), "counts": report["counts"]}


def build_part(quick: bool) -> list[dict[str, Any]]:
    """Rows: local and Ray build wall times (median over rounds) and their ratio."""
    from ray_helpers import RayCluster  # the tests' launcher (see the module docstring)

    docs, rounds = (120, 1) if quick else (1200, 3)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    times: dict[str, list[float]] = {"local": [], "ray": []}
    embeds: dict[str, list[float]] = {"local": [], "ray": []}
    chunks = 0
    with tempfile.TemporaryDirectory(prefix="bench-scale-build-") as tmp:
        work = Path(tmp)
        project = _project(work / "project", docs)
        started = time.perf_counter()
        cluster = RayCluster(head_cpus=2, workers=0).start()
        cluster_start = time.perf_counter() - started
        try:
            for r in range(rounds):
                for name in ("local", "ray") if r % 2 == 0 else ("ray", "local"):
                    extra = ["--executor", "ray", "--address", cluster.address]
                    run = _run(project, work / f"state-{name}-{r}", extra if name == "ray" else [])
                    times[name].append(run["wall"])
                    embeds[name].append(run["embed"] or 0.0)
                    chunks = run["counts"]["chunks"]
                    if run["counts"]["embedded"] != chunks:
                        raise RuntimeError(f"{name}: embedded {run['counts']['embedded']}")
        finally:
            cluster.stop()
    local, ray = statistics.median(times["local"]), statistics.median(times["ray"])
    load = f"{load_before} -> " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    common = {"chunks": chunks, "rounds": rounds, "load_average": load}
    return [
        {"name": "ray_cluster_start_s", "value": round(cluster_start, 2), **common},
        {"name": "build_local_s", "value": round(local, 2), **common},
        {"name": "build_ray_s", "value": round(ray, 2), "peer": round(local, 2), **common},
        {
            "name": "build_ray_over_local",
            "value": round(ray / local, 3),
            "target": 1.3,
            "ratio_to_target": round(ray / local / 1.3, 3),
            **common,
        },
        {
            "name": "embed_stage_ray_over_local",
            "value": round(
                statistics.median(embeds["ray"]) / statistics.median(embeds["local"]), 3
            ),
            **common,
        },
    ]
