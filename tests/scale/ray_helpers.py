"""A local Ray cluster for the tests: ``ray start --head`` on loopback plus a worker node.

Each node is Ray's own ``ray start --block`` CLI, with one fix for loaded machines: Ray 2.60
hands ``--dashboard-agent-listen-port`` to the dashboard agent but not to the raylet, so the
raylet waits for the agent to write that port to a file and aborts after 15 s (``Timed out
waiting for file .../dashboard_agent_listen_port_<node>``, node_manager.cc) when a busy 2-core
machine starts the agent slowly. The launcher below runs ``ray start`` with the raylet command
extended by the same port (``--dashboard_agent_listen_port``, a raylet flag), so no node waits
for an agent file: the other three agent ports are already passed on (fixed ports here).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from scale_helpers import free_port

from llmops.testing import stop_process, wait_until

# `ray start`, with the raylet also told the dashboard agent's listen port (see the docstring).
_LAUNCHER = """
import os, sys
import ray._private.services as services
port = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--dashboard-agent-listen-port="))
wrapper = os.path.join(os.environ["LLMOPS_RAY_NODE_DIR"], "raylet")
with open(wrapper, "w") as f:
    f.write(f'#!/bin/sh\\nexec {services.RAYLET_EXECUTABLE} "$@" --dashboard_agent_listen_port={port}\\n')
os.chmod(wrapper, 0o755)
services.RAYLET_EXECUTABLE = wrapper
from ray.scripts.scripts import main
sys.argv[0] = "ray"
main()
"""

TOPICS = ["rivers", "volcanoes", "orchards", "harbours", "glaciers", "libraries", "bridges"]


def synthetic_doc(i: int, paragraphs: int = 4) -> str:
    """Return markdown document ``i``: a title and ``paragraphs`` paragraphs, all different."""
    topic = TOPICS[i % len(TOPICS)]
    body = [
        f"Document {i} is about {topic}. Paragraph {p} describes how {topic} change over the "
        f"seasons, who looks after them, and what record number {i * 10 + p} says about "
        f"their history in the region."
        for p in range(paragraphs)
    ]
    return f"# {topic.title()} {i}\n\n" + "\n\n".join(body) + "\n"


#: Telemetry off, and room for workers that a loaded machine starts slowly.
RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_worker_register_timeout_seconds": "300",
}


class RayNode:
    """One ``ray start --block`` process (a head or a worker node) and its log."""

    def __init__(self, args: list[str], folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        ports = [free_port() for _ in range(4)]
        agent = [
            f"--dashboard-agent-grpc-port={ports[0]}",
            f"--dashboard-agent-listen-port={ports[1]}",
            f"--metrics-export-port={ports[2]}",
            f"--runtime-env-agent-port={ports[3]}",
        ]
        self.log = folder / "node.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _LAUNCHER, "start", "--block", "--disable-usage-stats"]
                + agent
                + args,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own session: every process it starts is found
                env={**os.environ, **RAY_ENV, "LLMOPS_RAY_NODE_DIR": str(folder)},
            )

    def stop(self) -> None:
        """SIGTERM ``ray start`` (it stops what it started), then SIGKILL what is left."""
        stop_process(self.proc, grace=30)
        for pid in _session_members(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _session_members(sid: int) -> list[int]:
    """Return the processes of session ``sid`` (what one ``ray start`` started)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == sid:
                    members.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                continue
    return members


class RayCluster:
    """A head (``head_cpus``) and ``workers`` worker nodes (``worker_cpus`` each) on 127.0.0.1."""

    def __init__(self, head_cpus: int = 1, worker_cpus: int = 1, workers: int = 1) -> None:
        # A short folder: Ray's unix sockets live under it (108-byte path limit).
        self.folder = Path(tempfile.mkdtemp(prefix="llmops-ray-"))
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.head_cpus, self.worker_cpus, self.workers = head_cpus, worker_cpus, workers
        self.nodes: list[RayNode] = []

    def _common(self) -> list[str]:
        return ["--node-ip-address=127.0.0.1", f"--temp-dir={self.folder / 'tmp'}"]

    def start(self, timeout: float = 300) -> RayCluster:
        head = [f"--port={self.port}", f"--num-cpus={self.head_cpus}", "--head"]
        head += ["--include-dashboard=false", *self._common()]
        self.nodes.append(RayNode(head, self.folder / "head"))
        self._wait_nodes(1, timeout)
        for _ in range(self.workers):
            self.add_worker(timeout)
        return self

    def add_worker(self, timeout: float = 300) -> RayNode:
        """Start one more worker node and wait until the cluster counts it."""
        name = f"worker{len(self.nodes)}"
        worker = [f"--address={self.address}", f"--num-cpus={self.worker_cpus}", *self._common()]
        node = RayNode(worker, self.folder / name)
        self.nodes.append(node)
        self._wait_nodes(self.alive_nodes_expected(), timeout)
        return node

    def alive_nodes_expected(self) -> int:
        return sum(1 for n in self.nodes if n.proc.poll() is None)

    def _wait_nodes(self, count: int, timeout: float) -> None:
        import ray

        def joined() -> bool:
            for node in self.nodes:
                if node.proc.poll() is not None and node.proc.returncode != 0:
                    self.stop()
                    pytest.fail(f"ray start exited:\n{node.log.read_text()[-3000:]}")
            try:
                if not ray.is_initialized():
                    ray.init(address=self.address, logging_level="warning", log_to_driver=False)
                return sum(1 for n in ray.nodes() if n["Alive"]) >= count
            except Exception:  # noqa: BLE001 - the head is not up yet
                ray.shutdown()
                return False

        try:
            wait_until(joined, timeout=timeout, what=f"the Ray cluster reaching {count} nodes")
        except AssertionError as exc:
            self.stop()
            pytest.fail(str(exc))

    def head_node_id(self) -> str:
        import ray

        head = next(
            n
            for n in ray.nodes()
            if n["Alive"] and n.get("Resources", {}).get("node:__internal_head__")
        )
        return str(head["NodeID"])

    def stop(self) -> None:
        import shutil

        import ray

        from llmops.rag.ray_executor import close_ray_pools

        try:
            close_ray_pools()
        finally:
            ray.shutdown()
            for node in reversed(self.nodes):
                node.stop()
            shutil.rmtree(self.folder, ignore_errors=True)
