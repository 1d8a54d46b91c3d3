"""`llmops query` end to end, as a person runs it: a new process per call, on a warm machine.

Prints one JSON table: the median and best wall time (and the CPU the process used) of
``llmops query`` over N calls after one warm-up call, for

- the default path (ONNX Runtime embedder from the machine-wide cache, loaded on a second core
  while the vector store is imported and opened);
- the previous default, the same command on the torch backend (``LLMOPS_EMBEDDING_BACKEND=torch``);
- floors measured in the same run: a bare ``python -c pass``, ``import llmops.cli``, and
  ``import qdrant_client`` (the vector store's client, which every query process needs);

on the scaffolded example project (``llmops init``: a handful of chunks) and, with
``--sample``, on the Python docs sample (2,119 chunks). ``--cold`` also times the one-off ONNX
export into an empty machine cache. The target is 1.5 s at the median for the small project.
Timings are wall-clock: on a machine shared with other jobs they grow with the load, which the
table reports (``load_1m``).

    .venv/bin/python benchmarks/bench_cli.py [--n 7] [--sample] [--cold]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_S = 1.5
PY = sys.executable


def _timed_run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Run a child process; return (wall seconds, CPU seconds it used, all threads)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _series(args: list[str], env: dict[str, str], cwd: Path, n: int) -> dict[str, Any]:
    _timed_run(args, env, cwd)  # warm-up: page cache, bytecode, the cached export
    walls, cpus = [], []
    for _ in range(n):
        wall, cpu = _timed_run(args, env, cwd)
        walls.append(wall)
        cpus.append(cpu)
    return {
        "median_s": round(statistics.median(walls), 3),
        "best_s": round(min(walls), 3),
        "cpu_median_s": round(statistics.median(cpus), 3),
        "runs": n,
    }


def _llmops(*args: str) -> list[str]:
    return [PY, "-m", "llmops", *args]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=7, help="timed calls per figure")
    parser.add_argument("--sample", action="store_true", help="also the 2,119-chunk sample")
    parser.add_argument("--cold", action="store_true", help="also the one-off ONNX export")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch comparison")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    base = {k: v for k, v in os.environ.items() if not k.startswith("LLMOPS_")}
    if "LLMOPS_CACHE_DIR" in os.environ:  # the machine cache is what a warm machine has
        base["LLMOPS_CACHE_DIR"] = os.environ["LLMOPS_CACHE_DIR"]
    env = {**base, "LLMOPS_HOME": str(work / "home")}
    torch_env = {**env, "LLMOPS_EMBEDDING_BACKEND": "torch"}
    table: dict[str, Any] = {
        "benchmark": "bench_cli",
        "machine": {"cpus": os.cpu_count(), "load_1m_start": round(os.getloadavg()[0], 2)},
    }
    try:
        project = work / "proj"
        subprocess.run(_llmops("init", str(project)), env=env, check=True, capture_output=True)
        build = subprocess.run(
            _llmops("index", "run", "example", "--json"),
            env=env,
            cwd=project,
            check=True,
            capture_output=True,
            text=True,
        )
        chunks = json.loads(build.stdout)["counts"]["chunks"]
        query = _llmops("query", "example", "how do I deploy the service?", "-k", "3")
        floors = {
            "python": _series([PY, "-c", "pass"], env, project, args.n),
            "import_llmops_cli": _series([PY, "-c", "import llmops.cli"], env, project, args.n),
            "import_qdrant_client": _series(
                [PY, "-c", "import qdrant_client"], env, project, args.n
            ),
        }
        onnx = _series(query, env, project, args.n)
        table["example_project"] = {
            "chunks": chunks,
            "query_default_onnx": onnx,
            "target_s": TARGET_S,
            "ratio_to_target": round(onnx["median_s"] / TARGET_S, 3),
            "floors": floors,
            "query_minus_qdrant_import_s": round(
                onnx["median_s"] - floors["import_qdrant_client"]["median_s"], 3
            ),
        }
        if not args.no_torch:
            torch = _series(query, torch_env, project, args.n)
            table["example_project"]["query_torch_previous_default"] = torch
            table["example_project"]["onnx_over_torch"] = round(
                onnx["median_s"] / torch["median_s"], 3
            )
        if args.sample:
            sample = work / "sample"
            shutil.copytree(project, sample, ignore=shutil.ignore_patterns(".llmops"))
            root = Path(__file__).resolve().parents[1]
            shutil.copy(root / "rag_pipelines" / "python-docs.yaml", sample / "rag_pipelines")
            out = subprocess.run(
                _llmops("index", "run", "python-docs", "--json"),
                env=env, cwd=sample, check=True, capture_output=True, text=True,
            )  # fmt: skip
            big = _llmops("query", "python-docs", "what does nonlocal do?", "-k", "5")
            entry: dict[str, Any] = {
                "chunks": json.loads(out.stdout)["counts"]["chunks"],
                "query_default_onnx": _series(big, env, sample, args.n),
            }
            if not args.no_torch:
                entry["query_torch_previous_default"] = _series(big, torch_env, sample, args.n)
            table["python_docs_sample"] = entry
        if args.cold:
            cold_env = {**env, "LLMOPS_CACHE_DIR": str(work / "empty-cache")}
            wall, cpu = _timed_run(query, cold_env, project)
            table["first_query_with_an_empty_machine_cache"] = {
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "note": "exports and optimises the ONNX graph once per machine",
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table["machine"]["load_1m_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
