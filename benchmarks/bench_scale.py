"""Past one machine: shared gateway state and the embedded store at 100k-1M chunks.

Prints ONE JSON document with a row per figure (value, target or peer, ratio):

    python benchmarks/bench_scale.py                      # every part, full sizes
    python benchmarks/bench_scale.py --part gateway       # memory vs redis shared state
    python benchmarks/bench_scale.py --part store --sizes 100000,1000000
    python benchmarks/bench_scale.py --part build         # Ray-executed build vs local build
    python benchmarks/bench_scale.py --quick              # smaller sizes everywhere

**gateway**: the scripted upstream, and two gateways with the same key and rate limit — the
in-process buckets (the default) and ``shared_state.backend: redis`` against a redis-server
this script starts — measured in alternation with ``bench_gateway.measure_interleaved``
(direct vs each gateway, c=1 latency and c=64 throughput). Target: the default adds
p50 <= 1 ms; the Redis mode's added cost is measured against it.

**store**: Qdrant local mode vs Qdrant Edge at each size, built, reopened and queried by
``scale_store.py`` (one process per engine and size, so each RSS is its own; its docstring says
how the synthetic vectors are drawn); rows carry the ratio local / Edge.

**build**: the index build with ``executor: ray`` (an actor pool on one local Ray node) vs the
local build of the same corpus, as CLI runs in alternation (``scale_build.py``); target: Ray /
local <= 1.3.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

import bench_gateway as bg  # noqa: E402  (a sibling script, not a package)
from procs import free_port, gateway_config, stop, wait_http  # noqa: E402


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- gateway: in-process buckets vs Redis --------------------------------------------------------


def start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found: apt-get install -y redis-server")
    port = free_port()
    cmd = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [*cmd, "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    import socket

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def start_limited_gateway(
    upstream: str, work: Path, shared: dict[str, Any]
) -> tuple[subprocess.Popen[bytes], str]:
    """``llmops serve`` with auth on, the bench key rate-limited (so the limiter runs)."""
    from llmops.gateway.auth import hash_key

    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    limit = {"requests_per_minute": 1e9, "tokens_per_minute": 1e12}
    keys = [{"id": "bench", "sha256": hash_key(bg.MASTER_KEY), "rate_limit": limit}]
    config = {
        **gateway_config(port, upstream),
        "auth": {"enabled": True, "keys_env": "LLMOPS_GATEWAY_KEYS"},
        "shared_state": shared,
    }
    (work / "gateway.yaml").write_text(json.dumps(config))
    env = {
        **os.environ,
        "LLMOPS_HOME": str(work / "state"),
        "LLMOPS_GATEWAY_KEYS": json.dumps(keys),
    }
    cmd = [sys.executable, "-m", "llmops", "serve", "--config", str(work / "gateway.yaml")]
    proc = subprocess.Popen([*cmd, "--log-level", "warning"], env=env, cwd=work)
    wait_http(f"http://127.0.0.1:{port}/readyz", proc, 60)
    return proc, f"http://127.0.0.1:{port}"


def gateway_part(quick: bool) -> list[dict[str, Any]]:
    sizes = {"c1_requests": 150 if quick else 500, "c64_seconds": 3.0 if quick else 8.0}
    rounds = 3 if quick else 5
    procs: list[subprocess.Popen[Any]] = []
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="bench-scale-gw-") as tmp:
        work = Path(tmp)
        try:
            redis, redis_url = start_redis(work)
            procs.append(redis)
            upstream, up_url = bg.start_upstream(0.02, None)
            procs.append(upstream)
            memory, mem_url = start_limited_gateway(up_url, work / "memory", {"backend": "memory"})
            procs.append(memory)
            shared = {"backend": "redis", "url": redis_url}
            redis_gw, redis_gw_url = start_limited_gateway(up_url, work / "redis", shared)
            procs.append(redis_gw)
            targets = {"direct": up_url, "memory": mem_url + "/v1", "redis": redis_gw_url + "/v1"}
            pids = {"memory": memory.pid, "redis": redis_gw.pid}
            results = bg.measure_interleaved(targets, sizes, rounds, None, pids)
            redis_cpu = bg._cpu_seconds(redis.pid)
        finally:
            for proc in reversed(procs):
                stop(proc)

    def paired(name: str, peer: str, kind: str, key: str) -> float | None:
        return bg._median(
            [
                bg._minus(a[key], b[key])
                for a, b in zip(results[name][kind], results[peer][kind], strict=True)
            ]
        )

    def added(name: str, kind: str, key: str) -> float | None:
        return paired(name, "direct", kind, key)

    def ratio(name: str) -> float | None:
        return bg._median(
            [
                bg._ratio(a["rps"], b["rps"])
                for a, b in zip(results[name]["c64"], results["direct"]["c64"], strict=True)
            ]
        )

    def med(name: str, kind: str, key: str) -> float | None:
        return bg._median([r[key] for r in results[name][kind]])

    mem_added = added("memory", "c1", "p50_ms")
    requests_total = sum(r["requests"] for kind in results["redis"].values() for r in kind)
    errors = {n: sum(r["errors"] for r in results[n]["c64"]) for n in ("memory", "redis")}
    setup = (
        f"scripted upstream 20 ms; auth on, one key limited (requests and tokens); traces on; "
        f"{rounds} rounds in alternation; load average before {load_before}, after {_load()}"
    )
    return [
        {
            "part": "gateway",
            "figure": "added p50, c=1 (ms): in-process buckets (default)",
            "value": mem_added,
            "target": "<= 1.0",
            "met": mem_added is not None and mem_added <= 1.0,
            "setup": setup,
        },
        {
            "part": "gateway",
            "figure": "added p50, c=1 (ms): shared_state redis",
            "value": added("redis", "c1", "p50_ms"),
            "peer": mem_added,
            "redis minus memory (paired per round)": paired("redis", "memory", "c1", "p50_ms"),
        },
        {
            "part": "gateway",
            "figure": "added p99, c=1 (ms): memory / redis",
            "value": {n: added(n, "c1", "p99_ms") for n in ("memory", "redis")},
        },
        {
            "part": "gateway",
            "figure": "requests/s, c=64: direct / memory / redis",
            "value": {n: med(n, "c64", "rps") for n in ("direct", "memory", "redis")},
            "ratio to direct": {n: ratio(n) for n in ("memory", "redis")},
        },
        {
            "part": "gateway",
            "figure": "gateway CPU per request, c=64 (us): memory / redis",
            "value": {n: med(n, "c64", "cpu_us_per_request") for n in ("memory", "redis")},
        },
        {
            "part": "gateway",
            "figure": "redis-server CPU per admitted request (us, whole run)",
            "value": round(redis_cpu / max(1, requests_total) * 1e6, 1),
            "note": "an upper bound: warm-up requests are in the CPU time, not in the count",
        },
        {"part": "gateway", "figure": "errors, c=64 (all rounds)", "value": errors},
    ]


# -- store: Qdrant local mode vs Qdrant Edge --------------------------------------------------------

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llmops-bench"


def store_part(
    quick: bool,
    sizes: list[int] | None = None,
    budget_s: float = 2400,
    engines: tuple[str, ...] = ("edge", "local"),
    keep: Path | None = None,
) -> list[dict[str, Any]]:
    """Build, reopen and query each engine at each size (under ``keep``/<n> if given, kept)."""
    sizes = sizes or ([20_000] if quick else [100_000, 1_000_000])
    rows: list[dict[str, Any]] = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-scale-store-") as tmp:
            work = keep / str(n) if keep is not None else Path(tmp)
            exact_ms = _store_inputs(work, n)
            results: dict[str, Any] = {}
            for engine in engines:
                extra = ["--budget-seconds", str(budget_s), "--max-rss-mb", str(STORE_MAX_RSS_MB)]
                results[engine] = _store_child(work, engine, extra)
                if keep is None:
                    shutil.rmtree(work / engine, ignore_errors=True)
            rows.append(_store_row(n, results, exact_ms, kept=keep))
    return rows


def store_requery(keep: Path, sizes: list[int] | None, engines: tuple[str, ...]) -> list[Any]:
    """Re-measure stores kept by ``--keep``: open, query p50/p99, recall@10, RSS; no build."""
    rows: list[dict[str, Any]] = []
    for folder in sorted(keep.iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else 0):
        if not folder.name.isdigit() or (sizes and int(folder.name) not in sizes):
            continue
        results = {
            e: _store_child(folder, e, ["--query-only"]) for e in engines if (folder / e).is_dir()
        }
        rows.append(_store_row(int(folder.name), results, None, kept=keep))
    return rows


def _store_inputs(work: Path, n: int) -> float | None:
    """Write the points, held-out queries, their exact top-10 and the texts; return ms/query."""
    import numpy as np
    import scale_store as ss

    work.mkdir(parents=True, exist_ok=True)
    if all((work / f).is_file() for f in ("points.npy", "queries.npy", "truth.npy", "texts.json")):
        return None  # kept by an earlier --keep run: the build resumes on the same points
    real, texts = ss.real_vectors(CACHE)
    points = ss.synthetic(real, n, seed=1)
    queries = ss.synthetic(real, 200, seed=2)
    truth_start = time.perf_counter()
    truth = ss.exact_top(points, queries)
    exact_ms = (time.perf_counter() - truth_start) / len(queries) * 1000
    np.save(work / "points.npy", points)
    np.save(work / "queries.npy", queries)
    np.save(work / "truth.npy", truth)
    (work / "texts.json").write_text(json.dumps(texts))
    return exact_ms


def _store_child(work: Path, engine: str, extra: list[str]) -> dict[str, Any]:
    """Run ``scale_store.py`` for one engine in its own process; return its JSON (+ load)."""
    load_before = _load()
    cmd = [sys.executable, str(HERE.parent / "scale_store.py"), "--engine", engine]
    for flag in ("points", "queries", "truth"):
        cmd += [f"--{flag}", str(work / f"{flag}.npy")]
    cmd += ["--texts", str(work / "texts.json"), "--dir", str(work / engine), *extra]
    done = subprocess.run(cmd, capture_output=True, text=True)
    result: dict[str, Any]
    if done.returncode != 0:
        result = {"failed": done.stderr.strip().splitlines()[-3:]}
    else:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load_average"] = f"{load_before} -> {_load()}"
    return result


def _store_row(
    n: int, results: dict[str, Any], exact_ms: float | None, kept: Path | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "part": "store",
        "figure": f"{n:,} chunks x 384 dims: Qdrant Edge vs local mode",
        "value": results,
        "ratio local / edge": _store_ratios(results),
        "vectors": "mixes of two real MiniLM vectors of the sample corpus + noise "
        "(scale_store.py docstring); 200 held-out queries; payloads like llmops'",
    }
    if exact_ms is not None:
        row["exact search (numpy, all points, ms/query)"] = round(exact_ms, 1)
    if kept is not None:
        row["kept in"] = str(kept / str(n))
    return row


STORE_MAX_RSS_MB = 9000


def _store_ratios(results: dict[str, Any]) -> dict[str, float]:
    """Return local mode's figure over Edge's for what both engines measured."""
    edge, local = results.get("edge", {}), results.get("local", {})
    out: dict[str, float] = {}
    for key in ("build_s", "build_cpu_s", "open_s", "p50_ms", "p99_ms", "query_cpu_ms_mean"):
        if edge.get(key) and local.get(key):
            out[key] = round(local[key] / edge[key], 2)
    if "rss_serving" in edge and "rss_serving" in local:
        out["rss_serving"] = round(local["rss_serving"]["VmRSS"] / edge["rss_serving"]["VmRSS"], 2)
    return out


def build_part(quick: bool) -> list[dict[str, Any]]:
    from scale_build import build_part as run  # noqa: PLC0415  (starts a Ray node)

    return run(quick)


PARTS = {"gateway": gateway_part, "store": store_part, "build": build_part}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", choices=[*PARTS, "all"], default="all")
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--sizes", default=None, help="store sizes, e.g. 100000,1000000")
    parser.add_argument("--engines", default="edge,local", help="store engines to run")
    parser.add_argument(
        "--store-budget", type=float, default=2400, help="seconds per engine and size to build"
    )
    parser.add_argument("--keep", type=Path, help="store part: build under this folder, keep it")
    parser.add_argument(
        "--requery", type=Path, help="store part: re-measure the stores kept in this folder"
    )
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for name, part in PARTS.items():
        if args.part not in (name, "all"):
            continue
        if name == "store":
            sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
            engines = tuple(args.engines.split(","))
            if args.requery is not None:
                rows += store_requery(args.requery, sizes, engines)
            else:
                rows += store_part(args.quick, sizes, args.store_budget, engines, args.keep)
        else:
            rows += part(args.quick)
    doc = {
        "benchmark": "scale",
        "machine": {"cores": os.cpu_count(), "load_average": _load()},
        "rows": rows,
    }
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
