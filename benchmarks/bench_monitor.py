"""Monitors at scale: the report over a million traces, the request-path cost, the drift test.

1. Report: N traces in the last 24 h (plus N/4 over the week before, the rollup tests'
   reference) in SQLite and in PostgreSQL (a throwaway ``initdb`` cluster, or ``--pg-url``).
   Each trace is written through ``TraceStore.write`` (derived fields, sampler, rollups), a
   share is scored as the online evaluation would, and queries get a vector for the drift test
   (about 2,500 per route and day at every size: the test reads at most 2,000 per window). Then,
   each in a fresh child process (peak RSS and Python heap measured there), at 100k and 1M
   traces: ``build_report`` over 24 h with no stored query drift (it computes the MMD tests
   itself); one ``monitor watch`` tick (``run_once``, scoring aside), which stores the query
   drift of the ``cache_windows``; ``build_report`` again, twice per process (first call with
   its lazy imports, second call), as production runs it beside ``monitor watch``; and the
   ``llmops monitor report --json`` command's wall time. Peer in the same run: the same headline figures
   (per-route error rate, p95 latency, unsupported share) computed the naive way, reading the
   window's rows into pandas (what "load the traces, then aggregate" costs).
2. Request path: p50 latency of ``llmops serve`` on a managed route with monitoring on vs off
   (``monitor.enabled``), sequential requests interleaved in blocks, scripted upstream with no
   latency; plus the writer-thread cost per trace of the enricher (derive + sample) and of the
   rollups.
3. Drift: the MMD permutation test on 2,000 vs 2,000 MiniLM-sized vectors (384-d), same
   distribution and shifted; peer: the textbook exact-kernel MMD permutation test (full Gram
   matrix, same number of permutations).

Prints ONE JSON document with each figure, its target and the ratio.

    python benchmarks/bench_monitor.py                     # 100k and 1M, SQLite + PostgreSQL
    python benchmarks/bench_monitor.py --sizes 100000 --no-pg --requests 600   # quick
    python benchmarks/bench_monitor.py --store sqlite:///traces.db --skip path,drift  # reuse
    python benchmarks/bench_monitor.py --no-sqlite --pg-url postgresql://... --skip path,drift
        # fills databases bench100000 / bench1000000 on that server (COPY) and leaves them there
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from procs import free_port

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
TARGETS = {"report_s": 2.0, "request_path_added_p50_ms": 0.1, "drift_2000_s": 1.0}
ROUTES = ("support", "search", "docs-qa", "chat")
ARMS = ("stable", "stable", "stable", "canary")
PG_FILL_WORKERS = 2


# -- data ---------------------------------------------------------------------------------------


def _batches(
    n: int, start: float, end: float, seed: int, batch: int = 5000, part: tuple[int, int] = (0, 1)
) -> Any:
    """Yield lists of trace records: the traces ``part[0]::part[1]`` of n in [start, end)."""
    from llmops.monitor.settings import SamplerSettings
    from llmops.traces import Sampler, TraceRecord
    from llmops.traces.derive import derive

    rng = random.Random(seed + 1000 * part[0])
    sampler = Sampler(SamplerSettings(rate=0.01, cap_per_hour=10**9))
    answers = ("Cook it for ten minutes [c1].", "I don't know", "Jupiter is the largest planet.")
    out = []
    for i in range(part[0], n, part[1]):
        route = ROUTES[i % len(ROUTES)]
        score = min(0.99, max(0.0, rng.gauss(0.55, 0.15)))
        failed = rng.random() < 0.02
        rec = TraceRecord(
            f"{seed}-{i}",
            ts=start + (end - start) * (i + rng.random()) / n,  # in arrival order, as served
            route=route,
            arm=ARMS[rng.randrange(4)],
            status=500 if failed else 200,
            prompt_name="rag-answer",
            prompt_version=rng.choice(("1", "2")),
            prompt_hash="sha256:abc",
            index_pipeline="docs",
            index_version="v1",
            upstream="vllm",
            upstream_model="smollm2",
            latency_ms=rng.lognormvariate(4.5, 0.5),
            prompt_tokens=rng.randint(200, 900),
            completion_tokens=rng.randint(10, 120),
            chunk_ids=["c1", "c2", "c3", "c4"],
            chunk_scores=[score, score * 0.9, score * 0.8, score * 0.7],
            chunk_sources=[f"doc{rng.randrange(40)}.md" for _ in range(4)],
            question=f"How do I do thing {rng.randrange(5000)}?",
            answer=None if failed else answers[rng.randrange(3)],
        )
        derive(rec)
        sampler.decide(rec)
        if rec.sampled and not failed:
            rec.scored_at = rec.ts + 5
            rec.groundedness = 1.0 if rng.random() > 0.1 else 0.5
            rec.unsupported = rec.groundedness < 1
        out.append(rec)
        if len(out) == batch:
            yield out
            out = []
    if out:
        yield out


def fill(url: str, n: int, now: float) -> dict[str, Any]:
    """Write n traces in the last 24 h and n/4 in the week before; add drift vectors."""
    import numpy as np
    import sqlalchemy as sa

    from llmops.traces import TraceStore

    store = TraceStore(url)
    started = time.perf_counter()
    spans = (((now - 86400, now), n, 1), ((now - 8 * 86400, now - 86400), n // 4, 2))
    if store.dialect == "postgresql":
        import multiprocessing

        jobs = [(url, spans, (w, PG_FILL_WORKERS)) for w in range(PG_FILL_WORKERS)]
        with multiprocessing.get_context("fork").Pool(PG_FILL_WORKERS) as pool:
            written = sum(pool.map(_pg_fill_part, jobs))
    else:
        written = 0
        for span, count, seed in spans:
            for batch in _batches(count, span[0], span[1], seed):
                written += store.write(batch)
    write_s = time.perf_counter() - started
    t, v = store.table, store.tables.vectors
    # About 2,500 embedded queries per route and day at every size: the drift test reads at
    # most max_window (2,000) per route and window whatever the embed rate, as production does.
    rate = min(1.0, 12_500 / n)
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.id, t.c.route, t.c.ts, t.c.sample_u, t.c.question).where(
                t.c.sample_u < rate
            )
        ).fetchall()
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(rows), 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vec_rows = [(*r[:4], "all-MiniLM-L6-v2", r[4], vec.tobytes())
                for r, vec in zip(rows, vectors, strict=True)]  # fmt: skip
    vec_cols = ("trace_id", "route", "ts", "sample_u", "model", "question", "vec")
    if store.dialect == "postgresql":
        _pg_copy(store, v.name, vec_cols, vec_rows)
    else:
        with store.engine.begin() as conn:
            for start in range(0, len(vec_rows), 5000):
                chunk = vec_rows[start : start + 5000]
                conn.execute(v.insert(), [dict(zip(vec_cols, r, strict=True)) for r in chunk])
    with store.engine.begin() as conn:  # what a long-running store has: WAL folded, statistics
        if store.dialect == "sqlite":
            conn.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        else:
            conn.execute(sa.text("ANALYZE"))
    store.close()
    return {
        "traces": written,
        "write_us_per_trace": round(write_s / written * 1e6, 1),
        "vectors": len(rows),
    }


def _pg_copy(store: Any, table: str, columns: tuple[str, ...], rows: Any) -> None:
    """COPY rows into a PostgreSQL table in one transaction (the fast bulk path)."""
    quote = store.engine.dialect.identifier_preparer.quote  # "user" is reserved in PG
    raw = store.engine.raw_connection()
    try:
        with raw.cursor() as cur:
            sql = f"COPY {table} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
            with cur.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        raw.commit()
    finally:
        raw.close()


def _pg_fill_part(job: tuple[str, Any, tuple[int, int]]) -> int:
    """Write one worker's share of the traces as ``TraceStore.write`` would, through COPY.

    Same rows (derived fields, sampler) and the same rollups; only the path differs: COPY
    instead of an INSERT per row, and this worker's rollups summed in memory and upserted once
    at the end (upserts add, so the rows equal per-batch upserts), so 1M traces fill in minutes.
    """
    from llmops.traces import TraceStore
    from llmops.traces.derive import derive
    from llmops.traces.record import COLUMNS
    from llmops.traces.rollup import RollupBatch
    from llmops.traces.store import upsert_rollups

    url, spans, part = job
    store = TraceStore(url)
    roll = RollupBatch()
    written = 0
    for span, count, seed in spans:
        for batch in _batches(count, span[0], span[1], seed, part=part):
            records = [derive(r) for r in batch]
            _pg_copy(store, store.table.name, COLUMNS, (r.values(True) for r in records))
            for r in records:
                roll.add(r)
            written += len(records)
    with store.engine.begin() as conn:
        upsert_rollups(conn, roll)
    store.close()
    return written


# -- child processes: one measurement each, so peak memory is its own --------------------------


def _hwm_mb() -> float:
    """Return this process's peak RSS (VmHWM: unlike ru_maxrss, not inherited over fork+exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(kind: str, url: str) -> None:
    """Run one measurement; ``KIND:heap`` traces Python allocations (and times nothing).

    tracemalloc slows allocation-heavy code by a third or more, so timings come from runs
    without it and the heap peak from a separate run of the same kind.
    """
    import tracemalloc

    kind, _, heap_run = kind.partition(":")

    from llmops.config import Settings
    from llmops.monitor.queries import Window
    from llmops.monitor.report import build_report
    from llmops.traces import TraceStore

    store = TraceStore(url)
    settings = Settings()
    window = Window.last(86400)
    if kind in ("report_cold", "watch"):  # no stored query drift: computed in this process
        with store.engine.begin() as conn:
            conn.execute(store.tables.drift_cache.delete())
    if kind == "watch":  # one `llmops monitor watch` tick (scoring aside): stores query drift
        from llmops.monitor.watch import run_once

        started = time.perf_counter()
        tick = run_once(store, settings, score=False)
        print(json.dumps({"seconds": round(time.perf_counter() - started, 3),
                          "signals": len(tick.signals)}))  # fmt: skip
        return
    base_rss = _hwm_mb()
    if heap_run:
        tracemalloc.start()
    started, cpu_started = time.perf_counter(), time.process_time()
    warm = cpu = None
    if kind in ("report", "report_cold"):
        report = build_report(store, settings, window)  # cold: includes the lazy imports
        cold = time.perf_counter() - started
        cpu = time.process_time() - cpu_started  # every thread's: steadier than wall under load
        report = build_report(store, settings, window)
        warm = time.perf_counter() - started - cold
        summary = {r.route: r.signal("error_rate").value for r in report.routes}
    else:  # the naive peer: the window's rows into pandas, then the same headline figures
        import pandas as pd

        cols = "route, status, latency_ms, sampled, unsupported, inclusion_p, ts"
        frame = pd.read_sql(
            f"SELECT {cols} FROM llmops_traces WHERE ts >= {window.start} AND ts < {window.end}",
            store.engine,
        )
        g = frame.groupby("route")
        summary = (g["status"].apply(lambda s: float((s >= 500).mean()))).to_dict()
        g["latency_ms"].quantile(0.95).to_dict()
        scored = frame[frame["unsupported"].notna()]
        scored.groupby("route")["unsupported"].mean().to_dict()
    seconds = time.perf_counter() - started if warm is None else cold
    _, heap_peak = tracemalloc.get_traced_memory()
    if kind == "report_cold":  # leave nothing behind: the watch tick measured next computes it
        with store.engine.begin() as conn:
            conn.execute(store.tables.drift_cache.delete())
    peak_rss = _hwm_mb()
    print(json.dumps({
        "seconds": round(seconds, 3), "warm_seconds": None if warm is None else round(warm, 3),
        "cpu_seconds": None if cpu is None else round(cpu, 3),
        "heap_peak_mb": round(heap_peak / 2**20, 1) if heap_run else None,
        "rss_peak_mb": round(peak_rss, 1), "rss_before_mb": round(base_rss, 1),
        "routes": len(summary),
    }))  # fmt: skip


def _measure(kind: str, url: str, repeats: int = 2) -> dict[str, Any]:
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, str(HERE), "--child", kind, url], capture_output=True, text=True, check=True
        )  # fmt: skip
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r["seconds"])
    out = {**best, "seconds_all": [r["seconds"] for r in runs]}
    if kind != "watch":  # the heap peak from its own run, under tracemalloc (not timed)
        heap = subprocess.run(
            [sys.executable, str(HERE), "--child", f"{kind}:heap", url], capture_output=True,
            text=True, check=True,
        )  # fmt: skip
        traced = json.loads(heap.stdout.strip().splitlines()[-1])
        out["heap_peak_mb"] = traced["heap_peak_mb"]
        out["seconds_under_tracemalloc"] = traced["seconds"]
    return out


def _cli_report(url: str, home: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "llmops", "monitor", "report", "--window", "24h", "--json",
         "--traces", url],
        capture_output=True, check=True, cwd=home, env={**os.environ, "LLMOPS_HOME": str(home)},
    )  # fmt: skip
    return round(time.perf_counter() - started, 3)


# -- PostgreSQL ----------------------------------------------------------------------------------


def start_postgres() -> tuple[str, Any]:
    """Start a throwaway cluster (as tests/gateway/conftest.py does); return (url, stop)."""
    bindir = "/usr/lib/postgresql/15/bin"
    initdb = shutil.which("initdb") or f"{bindir}/initdb"
    pg_ctl = shutil.which("pg_ctl") or f"{bindir}/pg_ctl"
    base = Path(tempfile.mkdtemp(prefix="llmops-bench-pg-"))
    base.chmod(0o755)
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = base / "data"
    subprocess.run([*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True)  # fmt: skip
    subprocess.run(
        [*prefix, pg_ctl, "-D", str(data), "-w", "-l", str(base / "log"), "-o",
         f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
        check=True, capture_output=True,
    )  # fmt: skip

    def stop() -> None:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "fast", "stop"], capture_output=True
        )
        shutil.rmtree(base, ignore_errors=True)

    return f"postgresql://postgres@127.0.0.1:{port}/postgres", stop


def _pg_database(base: str, name: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return base.rsplit("/", 1)[0] + f"/{name}"


# -- request path --------------------------------------------------------------------------------


def request_path(requests: int, work: Path) -> dict[str, Any]:
    """p50 of a managed route with monitoring on vs off, interleaved; writer-thread costs."""
    import httpx

    up = subprocess.Popen(
        [sys.executable, "-m", "llmops.testing.fake_llm", "--port", "0", "--latency", "0",
         "--model", "bench"], stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert up.stdout is not None
    upstream = up.stdout.readline().strip().split(" ", 1)[1]
    procs, urls = [up], {}
    try:
        for mode in ("on", "off"):
            proj = work / f"gw-{mode}"
            (proj / "serving").mkdir(parents=True)
            shutil.copytree(REPO / "prompts", proj / "prompts")
            (proj / "llmops.yaml").write_text(
                f"project: bench\nmonitor: {{enabled: {'true' if mode == 'on' else 'false'}, "
                "sampler: {rate: 0.05}}\n"
            )
            port = free_port()
            (proj / "serving" / "gateway.yaml").write_text(json.dumps({
                "server": {"port": port},
                "upstreams": {"up": {"kind": "openai", "replicas": [{"base_url": upstream}],
                                     "health": {"enabled": False}}},
                "routes": {"bench": {"upstream": "up", "prompt": "rag-answer@production"}},
            }))  # fmt: skip
            env = {**os.environ, "LLMOPS_HOME": str(proj / ".llmops")}
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "llmops", "serve", "--port", str(port), "--log-level",
                 "warning"], cwd=proj, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))  # fmt: skip
            urls[mode] = f"http://127.0.0.1:{port}"
        for url in urls.values():
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} did not start")
                time.sleep(0.2)
        body = {"model": "bench", "messages": [{"role": "user", "content": "How long?"}]}
        samples: dict[str, list[float]] = {"on": [], "off": []}
        with httpx.Client(timeout=30) as client:
            for _ in range(50):  # warm-up
                for url in urls.values():
                    client.post(url + "/v1/chat/completions", json=body)
            block = 100
            for i in range(0, requests, block):
                order = ("on", "off") if (i // block) % 2 == 0 else ("off", "on")
                for mode in order:
                    for _ in range(block):
                        t0 = time.perf_counter()
                        client.post(urls[mode] + "/v1/chat/completions", json=body)
                        samples[mode].append((time.perf_counter() - t0) * 1000)
        p50 = {m: statistics.median(s) for m, s in samples.items()}
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=20)
    return {
        "requests_per_mode": requests,
        "p50_ms": {m: round(v, 3) for m, v in p50.items()},
        "p99_ms": {m: round(sorted(s)[int(0.99 * len(s))], 3) for m, s in samples.items()},
        "added_p50_ms": round(p50["on"] - p50["off"], 3),
        **writer_costs(),
    }


def writer_costs(n: int = 20000) -> dict[str, float]:
    """Per-trace cost on the writer thread: enrich (derive + sample) and the rollup."""
    from llmops.monitor.settings import SamplerSettings
    from llmops.traces import Sampler, TraceEnricher
    from llmops.traces.rollup import RollupBatch

    records = [r for b in _batches(n, time.time() - 3600, time.time(), 9, batch=n) for r in b]
    for r in records:
        r.sampled = r.inclusion_p = None
    enricher = TraceEnricher(Sampler(SamplerSettings()))
    t0 = time.perf_counter()
    for r in records:
        enricher(r)
    enrich = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    RollupBatch.of(records)
    roll = (time.perf_counter() - t0) / n
    return {"writer_enrich_us": round(enrich * 1e6, 2), "writer_rollup_us": round(roll * 1e6, 2)}


# -- drift ---------------------------------------------------------------------------------------


def _exact_mmd(x: Any, y: Any, permutations: int) -> float:
    import numpy as np

    z = np.concatenate([x, y])
    sq = np.sum(z * z, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0)
    k = np.exp(-d2 / np.median(d2[np.triu_indices(len(z), 1)]))
    n = len(x)
    rng = np.random.default_rng(0)
    sign = np.concatenate([np.full(n, 1 / n), np.full(len(y), -1 / len(y))])
    observed = sign @ k @ sign
    signs = np.stack([rng.permutation(sign) for _ in range(permutations)], axis=1)
    null = np.sum(signs * (k @ signs), axis=0)
    return float((1 + np.sum(null >= observed)) / (1 + permutations))


def drift(repeats: int = 5) -> dict[str, Any]:
    import numpy as np

    from llmops.monitor.drift import mmd_test, one_blas_thread

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(12, 384))

    def sample(weights: Any) -> Any:  # noqa: E306 - a local helper
        idx = rng.choice(12, size=2000, p=weights)
        x = centres[idx] + rng.normal(scale=1.2, size=(2000, 384))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    even = np.full(12, 1 / 12)
    moved = np.array([0.3] + [0.7 / 11] * 11)
    out: dict[str, Any] = {}
    for label, (a, b) in {
        "same": (sample(even), sample(even)),
        "shifted": (sample(even), sample(moved)),
    }.items():
        times, p = [], 1.0
        for _ in range(repeats):
            t0 = time.perf_counter()
            _, p, _, runs = mmd_test(a, b, permutations=500)
            times.append(time.perf_counter() - t0)
        out[label] = {"seconds": round(min(times), 3), "seconds_median": round(statistics.median(times), 3),
                      "p_value": round(p, 4), "permutations": runs}  # fmt: skip
    a, b = sample(even), sample(moved)
    with one_blas_thread():
        t0 = time.perf_counter()
        p_exact = _exact_mmd(a, b, 500)
        exact_s = time.perf_counter() - t0
    out["peer_exact_kernel"] = {"seconds": round(exact_s, 3), "p_value": round(p_exact, 4)}
    return out


def _describe(url: str) -> dict[str, Any]:
    """Return what a store filled earlier holds (its age shifts its 24 h window: say it)."""
    import sqlalchemy as sa

    from llmops.traces import TraceStore

    store = TraceStore(url)
    with store.engine.connect() as conn:
        newest = conn.execute(sa.select(sa.func.max(store.table.c.ts))).scalar() or 0.0
        vectors = conn.execute(sa.select(sa.func.count()).select_from(store.tables.vectors))
        found = {"dialect": store.dialect, "traces": store.count(), "vectors": vectors.scalar()}
    store.close()
    return {**found, "reused": True, "newest_trace_age_s": round(time.time() - newest, 1)}


def _warm_bytecode(url: str, work: Path) -> None:
    """Run the CLI report once, unmeasured, and import pandas: their modules' bytecode is then
    cached, as after any ``pip install``. Without it (``PYTHONDONTWRITEBYTECODE`` set, or a
    ``uv pip install`` that does not compile) every child compiles numpy, SQLAlchemy and the
    CLI from source: seconds of ``compile()`` that are not the report's."""
    _cli_report(url, work)
    subprocess.run([sys.executable, "-c", "import pandas"], check=True)


def _measure_report(url: str, entry: dict[str, Any], work: Path) -> None:
    """Measure the report on ``url`` into ``entry``: no watch tick, a tick, then with it."""
    _warm_bytecode(url, work)
    entry["report_no_watch"] = _measure("report_cold", url)
    entry["watch_tick"] = _measure("watch", url, repeats=1)
    entry["report"] = _measure("report", url)
    entry["cli_report_s"] = _cli_report(url, work)
    entry["naive_pandas"] = _measure("naive", url, repeats=1)
    entry["ratio_report_vs_naive"] = round(
        entry["report"]["seconds"] / entry["naive_pandas"]["seconds"], 3
    )
    entry["meets_report_target"] = entry["report"]["seconds"] <= TARGETS["report_s"]


def _figure(name: str, value: float, target: float | None, **extra: Any) -> dict[str, Any]:
    """Return one row of the figure table: value, target, ratio to the target, met or not."""
    row: dict[str, Any] = {"figure": name, "value": value, "target": target}
    if target is not None:
        row["ratio_to_target"] = round(value / target, 3)
        row["ok"] = value <= target
    return {**row, **extra}


def _report_figures(figures: list[dict[str, Any]], label: str, entry: dict[str, Any]) -> None:
    target = TARGETS["report_s"]
    peer = entry["naive_pandas"]["seconds"]
    rows = (
        ("report, first call after a watch tick (s)", entry["report"]["seconds"], target),
        ("report, second call (s)", entry["report"]["warm_seconds"], target),
        (
            "report, first call without a watch tick (s)",
            entry["report_no_watch"]["seconds"],
            target,
        ),
        ("`llmops monitor report --json` wall (s)", entry["cli_report_s"], target),
        ("watch tick, scoring aside (s)", entry["watch_tick"]["seconds"], None),
        ("report peak Python heap (MB)", entry["report"]["heap_peak_mb"], None),
        ("report peak RSS (MB)", entry["report"]["rss_peak_mb"], None),
    )
    for name, value, goal in rows:
        figures.append(_figure(f"{label}: {name}", value, goal,
                               ratio_to_naive_pandas=round(value / peer, 3) if goal else None))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true", help="fill and measure PostgreSQL only")
    parser.add_argument("--pg-url", default=os.environ.get("LLMOPS_TEST_POSTGRES_URL"))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--store", action="append", default=[],
        help="measure the report on this filled store URL instead of filling new ones",
    )  # fmt: skip
    parser.add_argument("--skip", default="", help="comma list of: report, path, drift")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return 0
    skip = set(filter(None, args.skip.split(",")))
    work = Path(tempfile.mkdtemp(prefix="llmops-bench-monitor-"))
    os.environ["LLMOPS_HOME"] = str(work / "home")
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # children cache bytecode (_warm_bytecode)
    load = os.getloadavg()
    out: dict[str, Any] = {"benchmark": "monitor", "load_avg_at_start": [round(x, 2) for x in load]}
    figures: list[dict[str, Any]] = []
    out["figures"] = figures
    stop = None
    try:
        if "report" not in skip:
            backends = ([] if args.no_sqlite else ["sqlite"]) + (
                [] if args.no_pg else ["postgresql"]
            )
            pg = args.pg_url
            if "postgresql" in backends and not pg and not args.store:
                pg, stop = start_postgres()
            now = time.time()
            report: dict[str, Any] = {}
            stores = [(b, int(n), None) for b in backends for n in args.sizes.split(",")]
            stores = [("", 0, url) for url in args.store] or stores
            for backend, size, given in stores:
                if given is not None:  # a store filled earlier (by fill); measured as it is
                    url, entry = given, {"fill": _describe(given)}
                    backend, size = entry["fill"]["dialect"], entry["fill"]["traces"]
                else:
                    url = (
                        f"sqlite:///{work / f'traces-{size}.db'}"
                        if backend == "sqlite"
                        else _pg_database(pg or "", f"bench{size}")
                    )
                    entry = {"fill": fill(url, size, now)}
                _measure_report(url, entry, work)
                report[f"{backend}_{size}"] = entry
                print(f"# {backend} {size}: {json.dumps(entry)}", file=sys.stderr)
                _report_figures(figures, f"{backend} {size:,}", entry)
            out["report"] = report
        if "path" not in skip:
            path = request_path(args.requests, work)
            path["meets_target"] = path["added_p50_ms"] <= TARGETS["request_path_added_p50_ms"]
            out["request_path"] = path
            figures.append(_figure("request path: added p50 (ms)", path["added_p50_ms"],
                                   TARGETS["request_path_added_p50_ms"]))  # fmt: skip
        if "drift" not in skip:
            d = drift()
            d["meets_target"] = d["shifted"]["seconds"] <= TARGETS["drift_2000_s"]
            d["ratio_vs_exact_kernel"] = round(
                d["shifted"]["seconds"] / d["peer_exact_kernel"]["seconds"], 3
            )
            out["drift_2000_vs_2000"] = d
            figures.append(_figure("drift 2,000 vs 2,000, shifted (s)", d["shifted"]["seconds"],
                                   TARGETS["drift_2000_s"]))  # fmt: skip
        out["targets"] = TARGETS
        out["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(out, indent=2))
    finally:
        if stop is not None:
            stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
