"""`llmops query` end to end, as a person runs it: a new process per call, on a warm machine.

Prints one JSON table: the median and best wall time (and the CPU the process used, all threads)
of ``llmops query`` over N calls after one warm-up call, for

- each embedded vector store the installed llmops has (``qdrant.embedded``: Qdrant Edge and
  qdrant-client's local mode; one store only before Edge existed), each index built by the same
  ``llmops index run`` in a state root of its own. ``figure`` is the default store's median
  against the 1.5 s target (``ratio_to_target``) and against its floor;
- the previous default embedder, torch (``LLMOPS_EMBEDDING_BACKEND=torch``), as the peer;
- floors measured in the same run: a bare ``python -c pass``, ``import llmops.cli``, and the
  import of each store's client (``qdrant_client``: ~400 pydantic models; ``qdrant_edge``);

on the scaffolded example project (``llmops init``: a handful of chunks) and, with
``--sample``, on the Python docs sample (2,119 chunks). ``--cold`` also times the one-off ONNX
export into an empty machine cache. Timings are wall-clock: on a machine shared with other jobs
they grow with the load, which the table reports (``load_1m``); CPU seconds grow less.
Bytecode is written (``PYTHONDONTWRITEBYTECODE`` is dropped): a warm machine has it.

    .venv/bin/python benchmarks/bench_cli.py [--n 7] [--sample] [--cold] [--no-torch]
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
QUESTION = "how do I deploy the service?"
#: The import a query process pays for each embedded store (its client library).
STORE_IMPORT = {"edge": "qdrant_edge", "local": "qdrant_client"}


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


def _stores(env: dict[str, str], cwd: Path) -> list[str | None]:
    """Return the embedded stores the installed llmops offers, its default first.

    ``[None]`` when it has one only (before ``qdrant.embedded`` existed): nothing to choose.
    """
    code = (
        "import json, typing; from llmops.config import QdrantSettings as Q; "
        "f = Q.model_fields.get('embedded'); "
        "print(json.dumps(None if f is None else "
        "[f.default, *[a for a in typing.get_args(f.annotation) if a != f.default]]))"
    )
    out = subprocess.run([PY, "-c", code], env=env, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"cannot read the store settings:\n{out.stderr}")
    found = json.loads(out.stdout)
    return [None] if found is None else list(found)


def _installed(module: str, env: dict[str, str]) -> bool:
    code = f"import importlib.util as u; print(u.find_spec({module!r}) is not None)"
    out = subprocess.run([PY, "-c", code], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip() == "True"


def _build(project: Path, pipeline: str, env: dict[str, str]) -> int:
    out = subprocess.run(
        _llmops("index", "run", pipeline, "--json"),
        env=env, cwd=project, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return int(json.loads(out.stdout)["counts"]["chunks"])


def _store_row(
    store: str | None, work: Path, project: Path, env: dict[str, str], n: int
) -> dict[str, Any]:
    """Build the example index into a state root of its own on ``store``; time the query."""
    name = store or "local"
    env = {**env, "LLMOPS_HOME": str(work / f"home-{name}")}
    if store is not None:
        env["LLMOPS_QDRANT_EMBEDDED"] = store
    chunks = _build(project, "example", env)
    query = _series(_llmops("query", "example", QUESTION, "-k", "3"), env, project, n)
    client = STORE_IMPORT[name]
    floor = _series([PY, "-c", f"import llmops.cli, {client}"], env, project, n)
    return {
        "chunks": chunks,
        "query": query,
        "ratio_to_target": round(query["median_s"] / TARGET_S, 3),
        "floor": f"python -c 'import llmops.cli, {client}'",
        "floor_median_s": floor["median_s"],
        "query_minus_floor_s": round(query["median_s"] - floor["median_s"], 3),
        "env": env,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=7, help="timed calls per figure")
    parser.add_argument("--sample", action="store_true", help="also the 2,119-chunk sample")
    parser.add_argument("--cold", action="store_true", help="also the one-off ONNX export")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch comparison")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    # A warm machine has bytecode: PYTHONDONTWRITEBYTECODE (set in some shells and CI images)
    # would make every call compile llmops and its dependencies from source again.
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LLMOPS_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    if "LLMOPS_CACHE_DIR" in os.environ:  # the machine cache is what a warm machine has
        base["LLMOPS_CACHE_DIR"] = os.environ["LLMOPS_CACHE_DIR"]
    env = {**base, "LLMOPS_HOME": str(work / "home")}
    table: dict[str, Any] = {
        "benchmark": "bench_cli",
        "machine": {"cpus": os.cpu_count(), "load_1m_start": round(os.getloadavg()[0], 2)},
        "note": "wall grows with the machine's load; cpu_median_s (all threads) grows less",
    }
    try:
        project = work / "proj"
        subprocess.run(_llmops("init", str(project)), env=env, check=True, capture_output=True)
        floors = {"python": _series([PY, "-c", "pass"], env, project, args.n)}
        floors["import_llmops_cli"] = _series([PY, "-c", "import llmops.cli"], env, project, args.n)
        for module in sorted(set(STORE_IMPORT.values())):
            if _installed(module, env):
                floors[f"import_{module}"] = _series([PY, "-c", f"import {module}"], env, project, args.n)  # fmt: skip
        rows = {s or "local": _store_row(s, work, project, env, args.n) for s in _stores(env, project)}  # fmt: skip
        default = next(iter(rows))
        default_env = rows[default].pop("env")
        for row in rows.values():
            row.pop("env", None)
        top = rows[default]
        entry: dict[str, Any] = {
            "figure": {
                "what": f"llmops query, process start to exit, default store ({default})",
                "median_s": top["query"]["median_s"],
                "target_s": TARGET_S,
                "ratio_to_target": top["ratio_to_target"],
                "floor": top["floor"],
                "floor_median_s": top["floor_median_s"],
                "ratio_to_floor": round(top["query"]["median_s"] / top["floor_median_s"], 3),
            },
            "stores": rows,
            "floors": floors,
        }
        if not args.no_torch:
            query = _llmops("query", "example", QUESTION, "-k", "3")
            torch_env = {**default_env, "LLMOPS_EMBEDDING_BACKEND": "torch"}
            torch = _series(query, torch_env, project, args.n)
            entry["peer_torch_previous_default"] = torch
            entry["onnx_over_torch"] = round(top["query"]["median_s"] / torch["median_s"], 3)
        table["example_project"] = entry
        if args.sample:
            sample = work / "sample"
            shutil.copytree(project, sample, ignore=shutil.ignore_patterns(".llmops"))
            root = Path(__file__).resolve().parents[1]
            shutil.copy(root / "rag_pipelines" / "python-docs.yaml", sample / "rag_pipelines")
            big = _llmops("query", "python-docs", "what does nonlocal do?", "-k", "5")
            big_entry: dict[str, Any] = {
                "store": default,
                "chunks": _build(sample, "python-docs", default_env),
                "query_default_onnx": _series(big, default_env, sample, args.n),
            }
            if not args.no_torch:
                torch_env = {**default_env, "LLMOPS_EMBEDDING_BACKEND": "torch"}
                big_entry["query_torch_previous_default"] = _series(big, torch_env, sample, args.n)
            table["python_docs_sample"] = big_entry
        if args.cold:
            cold_env = {**default_env, "LLMOPS_CACHE_DIR": str(work / "empty-cache")}
            query = _llmops("query", "example", QUESTION, "-k", "3")
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
