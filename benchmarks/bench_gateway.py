"""Gateway overhead: direct vs through the llmops gateway (and LiteLLM's proxy), same run.

Set-up: the scripted upstream (``python -m llmops.testing.fake_llm --latency 0.02``), the
gateway (``llmops serve``, passthrough route, no guards, traces on in SQLite) and the load
generator (uvloop, keep-alive) are three processes sharing the machine's cores; by default
nothing is pinned (``--pin`` puts the upstream on CPU 0, the gateway/proxy on CPU 1 and the
load generator on both, with ``taskset``). Prints ONE JSON document.

The load generator's client (``--client``): ``lean`` (default since session 5) is a thin
keep-alive HTTP/1.1 client (asyncio protocol + httptools, ``llmops.transport.http``) at about
70 us of CPU per request; ``aiohttp`` (the default before) costs about 250 us, more than the
upstream itself. On a 2-core box the load generator's CPU is taken from the target being
measured, and it penalises the proxied path only (direct is bound by the upstream's latency,
not by CPU), while a real gateway's clients run on other machines. Both clients are the same
for every target of a run; ``per_round`` shows each run's ``loadgen_cpu_us``.

    python benchmarks/bench_gateway.py                 # full figures, 10-minute soak
    python benchmarks/bench_gateway.py --quick         # smaller sizes, 20 s soak
    python benchmarks/bench_gateway.py --litellm-python /path/to/venv/bin/python
    python benchmarks/bench_gateway.py --quick --baseline-src /tmp/main/src   # before/after

LiteLLM's proxy needs its ``[proxy]`` extras, which llmops does not depend on: give a Python
that has them (``--litellm-python``); without one its column says why it is missing.
``--baseline-src`` starts a second gateway from another source tree (e.g. ``git archive main
src``) on the same upstream and measures it in the same alternation: a before/after comparison
in the same conditions. The retry-policy rows time ``RetryPolicy.run`` around an attempt that
succeeds (the gateway's common case) against a bare call and against tenacity's own loop.
"""

from __future__ import annotations

import argparse
import asyncio
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

from procs import free_port, gateway_config, stop, wait_http

HERE = Path(__file__).resolve()
# Sent to every target; only LiteLLM checks it (it refuses to start without a master key).
MASTER_KEY = "sk-" + "0123456789abcdef" * 4
BODY = {
    "model": "bench",
    "messages": [{"role": "user", "content": "Say hello to the benchmark."}],
    "max_tokens": 16,
}


# -- load generator (runs in its own process) -----------------------------------------------------


class _AiohttpClient:
    """The general-purpose client: aiohttp (about 250 us of CPU per request on this box)."""

    def __init__(self, url: str, concurrency: int) -> None:
        import aiohttp

        self.url = url
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency, force_close=False)
        )

    async def post(self, body: bytes, stream: bool) -> tuple[int, float | None]:
        first = None
        async with self.session.post(self.url, data=body, headers=_HEADERS) as resp:
            if stream:
                async for line in resp.content:
                    if first is None and line.startswith(b"data: {") and b'"content":"' in line:
                        first = time.perf_counter()
            else:
                await resp.read()
            return resp.status, first

    async def close(self) -> None:
        await self.session.close()


class _LeanClient:
    """A thin keep-alive HTTP/1.1 client (asyncio protocol + httptools: llmops.transport.http).

    The load generator shares the 2 cores with the upstream and the proxy: aiohttp spends
    about 250 us of CPU per request, more than the upstream itself, and that CPU is taken
    from whichever target is being measured. Clients of a real gateway run elsewhere, so the
    default load generator is this one (about a quarter of aiohttp's cost); ``--client
    aiohttp`` measures with aiohttp as before.
    """

    def __init__(self, url: str, concurrency: int) -> None:
        from urllib.parse import urlsplit

        from llmops.transport.http import HttpEndpoint

        parts = urlsplit(url)
        self.path = parts.path
        self.endpoint = HttpEndpoint(
            f"{parts.scheme}://{parts.netloc}",
            connect_timeout=10,
            read_timeout=60,
            max_idle=concurrency,
            headers=_HEADERS,
        )

    async def post(self, body: bytes, stream: bool) -> tuple[int, float | None]:
        first = None
        resp = await self.endpoint.request("POST", self.path, body)
        try:
            if stream:
                async for piece in resp.iter_chunks():
                    if first is None and b'"content":"' in piece:
                        first = time.perf_counter()
            else:
                await resp.read()
            return resp.status, first
        finally:
            resp.release()

    async def close(self) -> None:
        self.endpoint.close()


CLIENTS = {"lean": _LeanClient, "aiohttp": _AiohttpClient}
_HEADERS = {"content-type": "application/json", "authorization": f"Bearer {MASTER_KEY}"}


async def _load(args: argparse.Namespace) -> dict[str, Any]:
    """Send requests from ``args.concurrency`` workers for a duration or a count."""
    body = json.dumps({**BODY, "model": args.model, "stream": args.stream}).encode()
    client = CLIENTS[args.client](args.loadgen, args.concurrency)
    latencies: list[float] = []
    ttfts: list[float] = []
    errors = 0
    done = 0

    async def one(record: bool) -> None:
        nonlocal errors, done
        start = time.perf_counter()
        try:
            status, first = await client.post(body, args.stream)
            if first is not None and record:
                ttfts.append(first - start)
            if status != 200:
                errors += 1
        except Exception:
            errors += 1
        if record:
            latencies.append(time.perf_counter() - start)
            done += 1

    try:
        for _ in range(args.warmup):
            await one(False)
        deadline = time.perf_counter() + args.duration if args.duration else None
        counter = iter(range(args.requests)) if args.requests else None
        t0 = time.perf_counter()

        async def worker() -> None:
            while True:
                if deadline is not None and time.perf_counter() >= deadline:
                    return
                if counter is not None and next(counter, None) is None:
                    return
                await one(True)

        await asyncio.gather(*[worker() for _ in range(args.concurrency)])
        elapsed = time.perf_counter() - t0
    finally:
        await client.close()
    lat = sorted(latencies)

    def pct(values: list[float], p: float) -> float | None:
        if not values:
            return None
        values = sorted(values)
        return values[min(len(values) - 1, int(p * len(values)))] * 1000

    return {
        "requests": done,
        "errors": errors,
        "rps": done / elapsed if elapsed else 0.0,
        "p50_ms": pct(lat, 0.50),
        "p99_ms": pct(lat, 0.99),
        "ttft_p50_ms": pct(ttfts, 0.50),
        "ttft_p99_ms": pct(ttfts, 0.99),
    }


def loadgen_main(args: argparse.Namespace) -> None:
    import uvloop

    print(json.dumps(uvloop.run(_load(args))))


#: The load generator's client (``--client``): set once by ``main``.
LOADGEN_CLIENT = ["lean"]


def run_load(
    url: str,
    *,
    concurrency: int,
    requests: int = 0,
    duration: float = 0.0,
    stream: bool = False,
    model: str = "bench",
    warmup: int = 20,
    cpus: str | None = None,
) -> dict[str, Any]:
    """Run the load generator in a separate process and return its figures."""
    cmd = _loadgen_cmd(
        url,
        concurrency=concurrency,
        requests=requests,
        duration=duration,
        model=model,
        warmup=warmup,
    ) + (["--stream"] if stream else [])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(_pinned(cmd, cpus), capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    fig: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    # The whole load-generator process (start-up and warm-up included) per measured request.
    spent = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    fig["loadgen_cpu_us"] = round(spent / max(1, fig["requests"] + warmup) * 1e6, 1)
    return fig


def _loadgen_cmd(url: str, **options: object) -> list[str]:
    """The command line of this script's load generator: ``--loadgen URL --option value ...``."""
    cmd = [sys.executable, str(HERE), "--loadgen", url, "--client", LOADGEN_CLIENT[0]]
    for name, value in options.items():
        cmd += [f"--{name}", str(value)]
    return cmd


# -- servers -----------------------------------------------------------------------------------------


def _pinned(cmd: list[str], cpus: str | None) -> list[str]:
    if cpus and shutil.which("taskset"):
        return ["taskset", "-c", cpus, *cmd]
    return cmd


def start_upstream(latency: float, cpus: str | None) -> tuple[subprocess.Popen[str], str]:
    cmd = [
        sys.executable,
        "-m",
        "llmops.testing.fake_llm",
        "--port",
        "0",
        "--latency",
        str(latency),
        "--stream-chunks",
        "8",
        "--model",
        "bench",
    ]
    proc = subprocess.Popen(_pinned(cmd, cpus), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        raise RuntimeError(f"upstream did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def start_gateway(
    upstream: str, work: Path, cpus: str | None, src: str | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``llmops serve`` (from ``src`` when given, else the installed package)."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = work / "gateway.yaml"
    config.write_text(json.dumps(gateway_config(port, upstream)))
    env = {**os.environ, "LLMOPS_HOME": str(work / "state")}
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [
        sys.executable,
        "-m",
        "llmops",
        "serve",
        "--config",
        str(config),
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(_pinned(cmd, cpus), env=env, cwd=work)
    wait_http(f"http://127.0.0.1:{port}/readyz", proc, 60)
    return proc, f"http://127.0.0.1:{port}"


def start_litellm(
    python: str, upstream: str, work: Path, cpus: str | None
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = work / "litellm.yaml"
    config.write_text(
        json.dumps(
            {
                "model_list": [
                    {
                        "model_name": "bench",
                        "litellm_params": {
                            "model": "openai/bench",
                            "api_base": upstream,
                            "api_key": "x",
                        },
                    }
                ],
                "litellm_settings": {"telemetry": False, "drop_params": True},
            }
        )
    )
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
        "DISABLE_SCHEMA_UPDATE": "true",
        "LITELLM_MASTER_KEY": MASTER_KEY,
    }
    litellm = Path(python).parent / "litellm"
    cmd = [
        str(litellm),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    proc = subprocess.Popen(
        _pinned(cmd, cpus),
        env=env,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=open(work / "litellm.log", "wb"),
    )  # noqa: SIM115
    wait_http(f"http://127.0.0.1:{port}/health/liveliness", proc, 120)
    return proc, f"http://127.0.0.1:{port}"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- measurements ------------------------------------------------------------------------------------


KINDS = {
    "c1": {"concurrency": 1, "stream": False},
    "c64": {"concurrency": 64, "stream": False},
    "stream": {"concurrency": 1, "stream": True},
}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_interleaved(
    targets: dict[str, str],
    sizes: dict[str, Any],
    rounds: int,
    cpus: str | None,
    pids: dict[str, int] | None = None,
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Measure every target in alternation, ``rounds`` times, so that load from other work on
    the machine hits all of them alike; returns per-round figures per target and kind.

    For targets in ``pids`` the c=64 figures also carry the process's CPU time per request
    (warm-up included): what the proxy costs, nearly independent of other load on the machine.
    """
    out: dict[str, dict[str, list[dict[str, Any]]]] = {t: {k: [] for k in KINDS} for t in targets}
    pids = pids or {}
    for _ in range(rounds):
        for kind, spec in KINDS.items():
            for name, base in targets.items():
                url = base + "/chat/completions"
                if kind == "c64":
                    cpu0 = _cpu_seconds(pids[name]) if name in pids else None
                    fig = run_load(
                        url, concurrency=64, duration=sizes["c64_seconds"], warmup=64, cpus=cpus
                    )
                    if cpu0 is not None:
                        spent = _cpu_seconds(pids[name]) - cpu0
                        fig["cpu_us_per_request"] = spent / (fig["requests"] + 64) * 1e6
                else:
                    fig = run_load(
                        url,
                        concurrency=1,
                        requests=sizes["c1_requests"],
                        stream=bool(spec["stream"]),
                        warmup=10,
                        cpus=cpus,
                    )
                out[name][kind].append(fig)
    return out


def _median(values: list[float | None]) -> float | None:
    clean = [v for v in values if v is not None]
    return round(statistics.median(clean), 3) if clean else None


def trace_write_cost(n: int) -> dict[str, float]:
    """Per-request cost of the trace path: enqueue (request path) and batched SQLite write."""
    from llmops.traces import TraceRecord, TraceStore, TraceWriter

    with tempfile.TemporaryDirectory() as tmp:
        writer = TraceWriter(TraceStore(f"sqlite:///{tmp}/t.db"), flush_interval=0.5)
        raw = json.dumps(
            {
                "choices": [{"message": {"content": "hello " * 20}}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 20},
            }
        ).encode()
        # One record first: its one-time costs (imports, statement preparation) are not per request.
        writer.submit(TraceRecord("warm-up", route="bench", raw_body=raw))
        writer.flush(timeout=120)
        start = time.perf_counter()
        cpu0 = time.process_time()  # every thread of this process: the writer's included
        for i in range(n):
            writer.submit(
                TraceRecord(
                    f"r{i}",
                    route="bench",
                    upstream="up",
                    raw_body=raw,
                    latency_ms=21.0,
                    question="q" * 40,
                )
            )
        enqueue = (time.perf_counter() - start) / n
        flush_start = time.perf_counter()
        writer.flush(timeout=120)
        total = time.perf_counter() - start
        cpu = time.process_time() - cpu0
        writer.close()
        return {
            "enqueue_us": enqueue * 1e6,
            "finish_and_write_cpu_us": cpu / n * 1e6,
            "write_us": writer.write_seconds / max(1, writer.written) * 1e6,
            "finish_and_write_us": total / n * 1e6,
            "drain_s": time.perf_counter() - flush_start,
        }


async def _client_cost(url: str, n: int, concurrency: int) -> float:
    """CPU microseconds per request of the gateway's upstream client (pool + transport + retry
    policy), in this process, best of 5 runs of ``n`` requests at ``concurrency``."""
    from llmops.gateway.config import PoolConfig
    from llmops.gateway.upstream import Pool

    body = json.dumps(BODY).encode()
    pool = Pool(
        "up",
        PoolConfig.model_validate({"replicas": [{"base_url": url}], "health": {"enabled": False}}),
    )
    await pool.start()

    async def worker(k: int) -> None:
        for i in range(k):
            up = await pool.post("/chat/completions", body, request_id=f"r{i}")
            await up.response.read()
            up.release()

    await worker(200)
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        await asyncio.gather(*[worker(n // concurrency) for _ in range(concurrency)])
        best = min(best, (time.process_time() - start) / n * 1e6)
    await pool.close()
    return best


def client_cost(url: str, src: str | None, n: int) -> float:
    """Run ``_client_cost`` in a fresh process (from source tree ``src`` when given)."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [sys.executable, str(HERE), "--client-cost", url, "--requests", str(n)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return float(out.stdout.strip().splitlines()[-1])


def retry_policy_cost(n: int) -> dict[str, float]:
    """Microseconds per successful call: bare await, ``RetryPolicy.run``, tenacity's loop."""
    import uvloop
    from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

    from llmops.errors import UpstreamError
    from llmops.transport.retry import RetryPolicy

    policy = RetryPolicy(attempts=3)
    retrying = AsyncRetrying(
        stop=stop_after_attempt(3), retry=retry_if_exception_type(UpstreamError), reraise=True
    )

    async def attempt() -> int:
        return 1

    async def bare() -> None:
        for _ in range(n):
            await attempt()

    async def ours() -> None:
        for _ in range(n):
            await policy.run(attempt)

    async def tenacity_loop() -> None:
        for _ in range(n):
            await retrying(attempt)

    out: dict[str, float] = {}
    for name, fn in (("bare", bare), ("policy", ours), ("tenacity", tenacity_loop)):
        best = float("inf")
        for _ in range(5):  # best of 5: the machine is shared
            start = time.perf_counter()
            uvloop.run(fn())
            best = min(best, (time.perf_counter() - start) / n * 1e6)
        out[name] = best
    return out


def soak(
    base: str, pid: int, seconds: float, cpus: str | None, concurrency: int = 16
) -> dict[str, Any]:
    """Run steady load for ``seconds`` and sample the gateway's RSS."""
    cmd = _loadgen_cmd(
        base + "/chat/completions",
        concurrency=concurrency,
        duration=seconds,
        requests=0,
        warmup=concurrency,
        model="bench",
    )
    proc = subprocess.Popen(_pinned(cmd, cpus), stdout=subprocess.PIPE, text=True)
    samples = [_rss_mb(pid)]
    while proc.poll() is None:
        time.sleep(min(5.0, max(1.0, seconds / 20)))
        samples.append(_rss_mb(pid))
    out = json.loads((proc.stdout.read() if proc.stdout else "").strip().splitlines()[-1])
    return {
        "seconds": seconds,
        "concurrency": concurrency,
        "requests": out["requests"],
        "errors": out["errors"],
        "rps": out["rps"],
        "rss_start_mb": round(samples[0], 1),
        "rss_end_mb": round(samples[-1], 1),
        "rss_max_mb": round(max(samples), 1),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _minus(a: float | None, b: float | None) -> float | None:
    return round(a - b, 3) if a is not None and b is not None else None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    parser.add_argument("--client-cost", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=20, help=argparse.SUPPRESS)
    parser.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default="lean",
        help="the load generator's HTTP client (default lean; aiohttp: the previous one)",
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes and a 20 s soak")
    parser.add_argument(
        "--soak", type=float, default=None, help="soak seconds (default 600, quick 20)"
    )
    parser.add_argument("--latency", type=float, default=0.02, help="upstream latency in seconds")
    parser.add_argument("--soak-concurrency", type=int, default=16, help="soak load (16)")
    parser.add_argument("--soak-only", action="store_true", help="only the soak (memory) figure")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds (5; quick 3)")
    parser.add_argument("--pin", action="store_true", help="taskset: upstream CPU 0, gateway CPU 1")
    parser.add_argument(
        "--baseline-src",
        default=None,
        help="a source tree (its src/ folder) to run as a second gateway for before/after",
    )
    parser.add_argument(
        "--litellm-python",
        default=os.environ.get("LLMOPS_BENCH_LITELLM_PYTHON"),
        help="a Python with litellm[proxy] installed",
    )
    args = parser.parse_args()
    LOADGEN_CLIENT[0] = args.client
    if args.loadgen:
        loadgen_main(args)
        return 0
    if args.client_cost:
        import uvloop

        print(uvloop.run(_client_cost(args.client_cost, args.requests or 4000, 16)))
        return 0

    if args.soak_only:
        return soak_only(args)
    sizes = {"c1_requests": 150 if args.quick else 500, "c64_seconds": 3.0 if args.quick else 8.0}
    rounds = args.rounds or (3 if args.quick else 5)
    soak_seconds = args.soak if args.soak is not None else (20.0 if args.quick else 600.0)
    up_cpus, gw_cpus, lg_cpus = ("0", "1", "0,1") if args.pin else (None, None, None)
    litellm_note = None
    procs: list[subprocess.Popen[Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-gw-") as tmp:
        work = Path(tmp)
        try:
            upstream, up_url = start_upstream(args.latency, up_cpus)
            procs.append(upstream)
            gateway, gw_url = start_gateway(up_url, work, gw_cpus)
            procs.append(gateway)
            targets = {"direct": up_url, "gateway": gw_url + "/v1"}
            if args.baseline_src:
                baseline, bl_url = start_gateway(
                    up_url, work / "baseline", gw_cpus, str(Path(args.baseline_src).resolve())
                )
                procs.append(baseline)
                targets["baseline"] = bl_url + "/v1"
            if args.litellm_python and Path(args.litellm_python).exists():
                try:
                    litellm, ll_url = start_litellm(args.litellm_python, up_url, work, gw_cpus)
                    procs.append(litellm)
                    targets["litellm"] = ll_url + "/v1"
                except RuntimeError as exc:
                    litellm_note = f"LiteLLM proxy failed to start: {exc}"
            else:
                litellm_note = (
                    "not measured: LiteLLM's proxy needs litellm[proxy] extras (backoff, "
                    "apscheduler, ...) that llmops does not install; pass --litellm-python"
                )
            pids = {"gateway": gateway.pid}
            if args.baseline_src:
                pids["baseline"] = baseline.pid
            results = measure_interleaved(targets, sizes, rounds, lg_cpus, pids)
            if "litellm" in targets:
                stop(procs.pop(), interrupt=True)
            if "baseline" in targets:
                stop(procs.pop(), interrupt=True)
            trace = trace_write_cost(2000 if args.quick else 20000)
            policy = retry_policy_cost(20000 if args.quick else 200000)
            # The upstream client's own CPU, this tree vs the baseline tree, alternating.
            n_client = 4000 if args.quick else 20000
            client: dict[str, list[float]] = {"gateway": [], "baseline": []}
            for _ in range(3 if args.baseline_src else 1):
                client["gateway"].append(client_cost(up_url, None, n_client))
                if args.baseline_src:
                    client["baseline"].append(
                        client_cost(up_url, str(Path(args.baseline_src).resolve()), n_client)
                    )
            soaked = soak(gw_url + "/v1", gateway.pid, soak_seconds, lg_cpus, args.soak_concurrency)
        finally:
            for proc in reversed(procs):
                stop(proc, interrupt=True)

    names = list(results)

    def med(name: str, kind: str, key: str) -> float | None:
        return _median([r[key] for r in results[name][kind]])

    def added(name: str, kind: str, key: str) -> float | None:
        # Paired per round: each round measured direct and the proxy back to back.
        return _median(
            [
                _minus(a[key], b[key])
                for a, b in zip(results[name][kind], results["direct"][kind], strict=True)
            ]
        )

    def ratio(name: str) -> float | None:
        return _median(
            [
                _ratio(a["rps"], b["rps"])
                for a, b in zip(results[name]["c64"], results["direct"]["c64"], strict=True)
            ]
        )

    columns = ("direct", "gateway", "baseline", "litellm")

    def col(kind: str, key: str) -> dict[str, Any]:
        return {n: med(n, kind, key) for n in columns if n in names}

    def proxies(fn: Any, *a: Any) -> dict[str, Any]:
        return {n: fn(n, *a) for n in columns[1:] if n in names}

    g_added = added("gateway", "c1", "p50_ms")
    g_ratio = ratio("gateway")
    g_ttft = added("gateway", "stream", "ttft_p50_ms")
    errors = {n: sum(r["errors"] for r in results[n]["c64"]) for n in names}
    rows: list[dict[str, Any]] = [
        {"figure": "p50 latency, c=1 (ms)", **col("c1", "p50_ms")},
        {"figure": "p99 latency, c=1 (ms)", **col("c1", "p99_ms")},
        {
            "figure": "added p50, c=1 (ms)",
            **proxies(added, "c1", "p50_ms"),
            "target": "<= 1.0",
            "met": g_added is not None and g_added <= 1.0,
        },
        {"figure": "added p99, c=1 (ms)", **proxies(added, "c1", "p99_ms")},
        {"figure": "requests/s, c=64", **col("c64", "rps")},
        {
            "figure": "requests/s ratio to direct, c=64",
            **proxies(lambda n: ratio(n)),
            "target": ">= 0.9",
            "met": g_ratio is not None and g_ratio >= 0.9,
        },
        {
            "figure": "proxy CPU per request, c=64 (us)",
            **{
                n: med(n, "c64", "cpu_us_per_request")
                for n in ("gateway", "baseline")
                if n in names
            },
        },
        {
            "figure": "errors, c=64 (all rounds)",
            **errors,
            "target": "0",
            "met": errors["gateway"] == 0,
        },
        {"figure": "time to first token p50, stream c=1 (ms)", **col("stream", "ttft_p50_ms")},
        {
            "figure": "added time to first token p50 (ms)",
            **proxies(added, "stream", "ttft_p50_ms"),
            "target": "<= 1.0",
            "met": g_ttft is not None and g_ttft <= 1.0,
        },
        {
            "figure": "upstream client CPU per request: pool + transport + policy (us, c=16)",
            **{n: _round(min(v)) for n, v in client.items() if v},
        },
        {
            "figure": "retry policy around a call that succeeds (us/call, best of 5)",
            "gateway": _round(policy["policy"] - policy["bare"]),
            "tenacity AsyncRetrying": _round(policy["tenacity"] - policy["bare"]),
        },
        {
            "figure": "trace enqueue on the request path (us/request)",
            "gateway": _round(trace["enqueue_us"]),
        },
        {
            "figure": "trace finish + batched SQLite write, background (us/request, wall)",
            "gateway": _round(trace["finish_and_write_us"]),
        },
        {
            "figure": "trace enqueue + finish + batched SQLite write (CPU us/request)",
            "gateway": _round(trace["finish_and_write_cpu_us"]),
        },
        {
            "figure": f"gateway RSS over a {soaked['seconds']:.0f} s soak at c=16 (MB start/end/max)",
            "gateway": f"{soaked['rss_start_mb']}/{soaked['rss_end_mb']}/{soaked['rss_max_mb']}",
        },
        {
            "figure": "soak requests / errors / rps",
            "gateway": f"{soaked['requests']}/{soaked['errors']}/{soaked['rps']:.0f}",
        },
    ]
    if "baseline" in names:
        # Paired per round: this tree's gateway against the baseline tree's, same conditions.
        rows.append(
            {
                "figure": "this gateway minus baseline: p50 c=1 (ms) / rps ratio c=64",
                "gateway": _median(
                    [
                        _minus(a["p50_ms"], b["p50_ms"])
                        for a, b in zip(
                            results["gateway"]["c1"], results["baseline"]["c1"], strict=True
                        )
                    ]
                ),
                "ratio": _median(
                    [
                        _ratio(a["rps"], b["rps"])
                        for a, b in zip(
                            results["gateway"]["c64"], results["baseline"]["c64"], strict=True
                        )
                    ]
                ),
            }
        )
    print(
        json.dumps(
            {
                "benchmark": "gateway",
                "setup": {
                    "upstream": f"llmops.testing.fake_llm, {args.latency * 1000:.0f} ms latency, 8 stream chunks",
                    "route": "passthrough (no prompt, no retrieval, no guards), traces on (SQLite)",
                    "cores": os.cpu_count(),
                    "pinning": (
                        "taskset: upstream CPU 0, gateway/proxy CPU 1, load generator CPUs 0-1"
                        if args.pin
                        else "none: upstream, gateway/proxy and load generator share all cores"
                    ),
                    "load generator": f"{args.client} client + uvloop, keep-alive, separate "
                    "process (its CPU per request is in per_round: loadgen_cpu_us)",
                    "sizes": {**sizes, "rounds": rounds, "soak_seconds": soak_seconds},
                    "method": "targets measured in alternation each round; figures are medians over rounds, "
                    "added latency and ratios are paired per round",
                    "litellm": litellm_note or "litellm proxy 1 worker, same upstream",
                    "baseline": f"llmops serve from {args.baseline_src}, same upstream"
                    if args.baseline_src
                    else "not measured (--baseline-src)",
                },
                "rows": rows,
                "per_round": results,
            },
            indent=2,
        )
    )
    return 0


def soak_only(args: argparse.Namespace) -> int:
    """Print only the soak figures (memory and errors under steady load, traces on)."""
    seconds = args.soak if args.soak is not None else 600.0
    procs: list[subprocess.Popen[Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-gw-") as tmp:
        try:
            upstream, up_url = start_upstream(args.latency, None)
            procs.append(upstream)
            gateway, gw_url = start_gateway(up_url, Path(tmp), None)
            procs.append(gateway)
            soaked = soak(gw_url + "/v1", gateway.pid, seconds, None, args.soak_concurrency)
            traces = sum(1 for _ in (Path(tmp) / "state").glob("traces.db"))
        finally:
            for proc in reversed(procs):
                stop(proc, interrupt=True)
    print(json.dumps({"benchmark": "gateway soak", "traces_db": bool(traces), **soaked}, indent=2))
    return 0


def _round(value: Any) -> Any:
    return round(value, 2) if isinstance(value, float) else value


if __name__ == "__main__":
    sys.exit(main())
