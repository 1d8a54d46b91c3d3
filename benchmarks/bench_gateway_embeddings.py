"""Large embedding requests against a running gateway: memory, event-loop stalls, early 401s.

Starts ``llmops serve`` (real MiniLM, default settings unless noted) and prints ONE JSON
document with three figures:

- ``rss_growth_mb``: the gateway's RSS after a 10 MB ``/v1/embeddings`` body minus before it
  (default ``server.max_body_bytes``), with the status and seconds it took;
- ``healthz_max_ms``: the slowest ``GET /healthz`` while a 3 MB embedding request (allowed by
  ``max_body_bytes: 4194304``) is being served;
- ``bytes_read_before_401``: with auth on and a 50 MB body on its way, how many bytes the gateway
  process read (``/proc/<pid>/io`` rchar) before it answered 401 (the client keeps sending until
  the answer arrives; what the kernel buffered but the gateway never read does not count).

Run it against another checkout to compare: ``PYTHONPATH=/other/src python benchmarks/...``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from procs import free_port, stop, wait_http

MB = 1024 * 1024


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _serve(
    work: Path, server: dict[str, Any], auth: bool = False
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config: dict[str, Any] = {"server": {"port": port, **server}, "routes": {}, "upstreams": {}}
    env = {**os.environ, "LLMOPS_HOME": str(work / "state")}
    if auth:
        from llmops.gateway.auth import hash_key

        config["auth"] = {"enabled": True, "keys_env": "BENCH_KEYS"}
        env["BENCH_KEYS"] = json.dumps([{"id": "k", "sha256": hash_key("sk-bench")}])
    path = work / f"gateway-{port}.yaml"
    path.write_text(json.dumps(config))
    cmd = [sys.executable, "-m", "llmops", "serve", "-c", str(path), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, cwd=work)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/readyz", proc)
    except RuntimeError:
        stop(proc)
        raise
    # Warm: the model loads on first use where the gateway does not load it at start.
    httpx.post(
        url + "/v1/embeddings",
        json={"model": "all-MiniLM-L6-v2", "input": "warm"},
        headers={"authorization": "Bearer sk-bench"},
        timeout=120,
    )
    return proc, url


def _rchar(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return -1


def rss_growth(work: Path) -> dict[str, Any]:
    proc, url = _serve(work, {})
    try:
        before = _rss_mb(proc.pid)
        body = {"model": "all-MiniLM-L6-v2", "input": "word " * (10 * MB // 5)}
        t = time.perf_counter()
        r = httpx.post(url + "/v1/embeddings", json=body, timeout=600)
        took = time.perf_counter() - t
        return {
            "rss_before_mb": round(before, 1),
            "rss_growth_mb": round(_rss_mb(proc.pid) - before, 1),
            "status": r.status_code,
            "seconds": round(took, 2),
        }
    finally:
        stop(proc)


def healthz_stall(work: Path) -> dict[str, Any]:
    proc, url = _serve(work, {"max_body_bytes": 4 * MB})
    try:
        body = {"model": "all-MiniLM-L6-v2", "input": "word " * (3 * MB // 5)}
        result: dict[str, Any] = {}

        def big() -> None:
            t = time.perf_counter()
            r = httpx.post(url + "/v1/embeddings", json=body, timeout=600)
            result.update(status=r.status_code, seconds=round(time.perf_counter() - t, 2))

        worker = threading.Thread(target=big)
        worker.start()
        slowest = 0.0
        with httpx.Client() as client:
            while worker.is_alive():
                t = time.perf_counter()
                client.get(url + "/healthz", timeout=60)
                slowest = max(slowest, time.perf_counter() - t)
                time.sleep(0.01)
        worker.join()
        return {"healthz_max_ms": round(slowest * 1000, 1), "embedding": result}
    finally:
        stop(proc)


def early_401(work: Path) -> dict[str, Any]:
    proc, url = _serve(work, {}, auth=True)
    try:
        port = int(url.rsplit(":", 1)[1])
        total = 50 * MB
        sent = 0
        read_before = _rchar(proc.pid)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(
                b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {total}\r\n\r\n".encode()
            )
            sock.setblocking(False)
            chunk = b" " * 65536
            answer = b""
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not answer:
                try:
                    answer = sock.recv(4096)
                    break
                except BlockingIOError:
                    pass
                if sent < total:
                    try:
                        sent += sock.send(chunk[: total - sent])
                    except BlockingIOError:
                        time.sleep(0.001)
                else:
                    time.sleep(0.01)
            read = _rchar(proc.pid) - read_before
        return {
            "bytes_read_before_401": read,
            "bytes_sent_before_401": sent,
            "status_line": answer.split(b"\r\n", 1)[0].decode(),
        }
    finally:
        stop(proc)


def main() -> int:
    import llmops

    with tempfile.TemporaryDirectory(prefix="bench-emb-") as tmp:
        work = Path(tmp)
        out = {
            "llmops": str(Path(llmops.__file__).parent),
            "load_avg": os.getloadavg(),
            "early_401": early_401(work),
            "healthz_during_3mb": healthz_stall(work),
            "rss_10mb": rss_growth(work),
        }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
