"""A local Ray cluster for the tests: ``ray start --head`` on loopback plus a worker node."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scale_helpers import free_port


class RayNode:
    """One ``ray start --block`` process (a head or a worker node) and its log."""

    def __init__(self, args: list[str], log: Path) -> None:
        ray = shutil.which("ray", path=str(Path(sys.executable).parent))
        if ray is None:
            pytest.fail("the ray CLI is not installed in this venv (pip install -e .[dev])")
        ports = [free_port() for _ in range(4)]
        agent = [
            # Fixed agent ports: with port 0 the raylet waits for the agent to write its port
            # file and aborts after a few seconds when a loaded machine starts it slowly.
            f"--dashboard-agent-grpc-port={ports[0]}",
            f"--dashboard-agent-listen-port={ports[1]}",
            f"--metrics-export-port={ports[2]}",
            f"--runtime-env-agent-port={ports[3]}",
        ]
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [ray, "start", "--block", "--disable-usage-stats", *agent, *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as one
                env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
            )

    def stop(self) -> None:
        """SIGTERM (ray stops what it started), then SIGKILL the group if it lingers."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


class RayCluster:
    """A head (``head_cpus``) and one worker node (``worker_cpus``) on 127.0.0.1."""

    def __init__(self, folder: Path, head_cpus: int = 2, worker_cpus: int = 1) -> None:
        self.folder = folder
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.head_cpus, self.worker_cpus = head_cpus, worker_cpus
        self.nodes: list[RayNode] = []

    def start(self, timeout: float = 240) -> RayCluster:
        common = ["--node-ip-address=127.0.0.1", "--include-dashboard=false"]
        head = [f"--port={self.port}", f"--num-cpus={self.head_cpus}", "--head", *common]
        self.nodes.append(RayNode(head, self.folder / "head.log"))
        self._wait_nodes(1, timeout)
        worker = [f"--address={self.address}", f"--num-cpus={self.worker_cpus}", *common]
        self.nodes.append(RayNode(worker, self.folder / "worker.log"))
        self._wait_nodes(2, timeout)
        return self

    def _wait_nodes(self, count: int, timeout: float) -> None:
        import ray

        deadline = time.monotonic() + timeout
        while True:
            for node in self.nodes:
                if node.proc.poll() is not None:
                    self.stop()
                    pytest.fail(f"ray start exited:\n{node.log.read_text()[-3000:]}")
            try:
                if not ray.is_initialized():
                    ray.init(address=self.address, logging_level="warning", log_to_driver=False)
                if sum(1 for n in ray.nodes() if n["Alive"]) >= count:
                    return
            except Exception:  # the head is not up yet
                ray.shutdown()
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the Ray cluster did not reach {count} nodes in {timeout:.0f} s")
            time.sleep(0.5)

    def head_node_id(self) -> str:
        import ray

        return str(ray.get_runtime_context().get_node_id())

    def stop(self) -> None:
        import ray

        from llmops.rag.ray_executor import close_ray_pools

        try:
            close_ray_pools()
        finally:
            ray.shutdown()
            for node in reversed(self.nodes):
                node.stop()
