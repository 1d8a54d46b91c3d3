"""``executor: ray``: a build loads, chunks and embeds its changed files in a pool of Ray actors.

The driver (the process running ``llmops index run``) keeps what every guarantee of the local
path rests on: it discovers and hashes the files (content-hash incremental runs), plans,
copies unchanged vectors, writes the versioned collection, verifies the count and only then
switches the alias. The cluster does the work: ``ray.actors`` actors (``num_cpus:
ray.cpus_per_actor`` each, spread over the nodes) load and chunk batches of changed files
(``rag/ray_planner.py``: the same loaders and ``Chunker``, so the same deterministic chunk
ids) and embed the new chunks, each slice of ``store.upsert_batch`` texts cut into
batch-aligned shards, one per actor, and reassembled in order. Each actor loads the ONNX model
and the tokenizer once. The files must be readable at the same path on every node (one
machine, or a shared file system) and llmops installed in the nodes' Python (the same venv).

A pool the cluster cannot place (``num_cpus`` above any node's CPUs, or fewer free CPUs than
the pool needs) fails within ``ray.start_timeout`` seconds with the cluster's resources in
the error, instead of waiting forever.

A worker or node that dies mid-build: its actors restart elsewhere (``max_restarts``) and the
lost shard is re-run there (``max_task_retries``), so the build finishes with the same vectors.
If the cluster cannot finish (no node left, the driver killed), the run fails before the alias
moves; the next run resumes from the points already written, like a killed local run.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llmops.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import numpy.typing as npt

    from llmops.embeddings import Embedder
    from llmops.rag.spec import RaySpec

__all__ = ["RayEmbedder", "ray_embedder"]

_POOLS: dict[tuple[str, str, int, float], RayEmbedder] = {}
_LOCK = threading.Lock()


class _EmbedActor:
    """One model per actor process (ONNX, ``threads`` intra-op threads)."""

    def __init__(self, spec: str, device: str, threads: int) -> None:
        os.environ["LLMOPS_EMBEDDING_THREADS"] = str(threads)
        from llmops.embeddings import get_embedder

        self.embedder = get_embedder(spec, device=device)
        self.calls = 0
        self.chunk_calls = 0
        self.chunkers: dict[str, Any] = {}  # chunking spec + model -> Chunker

    def encode(self, texts: list[str], batch_size: int, normalize: bool) -> npt.NDArray[np.float32]:
        self.calls += 1
        return self.embedder.encode(texts, batch_size=batch_size, normalize=normalize)

    def chunk_files(self, files: list[Any], parsing: Any, chunking: Any, model: str) -> list[Any]:
        """Load and chunk ``files`` (``rag/ray_planner.py``); the chunker is made once."""
        from llmops.rag.ray_planner import chunk_files

        self.chunk_calls += 1
        return chunk_files(self, files, parsing, chunking, model)

    def where(self) -> dict[str, Any]:
        """Return this actor's node id, process id and how many shards it encoded."""
        import ray

        return {
            "node": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "calls": self.calls,
            "chunk_calls": self.chunk_calls,
        }


class RayEmbedder:
    """An ``Embedder`` whose ``encode`` runs on a Ray actor pool; tokens are counted here."""

    def __init__(
        self, local: Embedder, spec: str, device: str, ray: RaySpec, file: Path | None = None
    ) -> None:
        import ray as ray_mod

        self.local = local
        self.model_id = local.model_id
        self.dim = local.dim
        self.max_seq_length = local.max_seq_length
        self.config = ray
        if not ray_mod.is_initialized():
            address = ray.address or os.environ.get("RAY_ADDRESS")
            if not address:
                raise ConfigError(
                    "executor 'ray' needs a cluster address",
                    file=file,
                    key="ray.address",
                    hint="set ray.address in the pipeline file, RAY_ADDRESS, or pass "
                    "--address host:port (the head's `ray start --head --port`)",
                )
            ray_mod.init(
                address=address,
                logging_level=logging.WARNING,
                log_to_driver=False,
                configure_logging=False,
            )
        _check_feasible(ray, file)
        actor_cls = ray_mod.remote(
            num_cpus=ray.cpus_per_actor,
            max_restarts=-1,
            max_task_retries=-1,
            scheduling_strategy="SPREAD",
        )(_EmbedActor)
        threads = max(1, int(ray.cpus_per_actor))
        # Handles typed Any: ray's stubs type ``ActorClass.remote`` methods as plain callables.
        self.actors: list[Any] = [
            actor_cls.remote(spec, device, threads) for _ in range(ray.actors)
        ]
        self._wait_started(file)

    def _wait_started(self, file: Path | None) -> None:
        """Wait up to ``ray.start_timeout`` s for every actor to be placed and started."""
        import ray

        refs = [a.where.remote() for a in self.actors]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=self.config.start_timeout)
        if len(ready) < len(refs):
            self.close()
            raise ConfigError(
                f"'ray.actors': the Ray cluster started {len(ready)} of {len(refs)} actors "
                f"({self.config.cpus_per_actor:g} CPU each) in {self.config.start_timeout:g} s "
                f"(ray.start_timeout); cluster {_resources()}",
                file=file,
                line=_line(file, "ray.actors"),
                key="ray.actors",
                hint="lower ray.actors or ray.cpus_per_actor, add nodes, free the cluster's "
                "CPUs, or raise ray.start_timeout if the nodes are only slow",
            )

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, normalize: bool = True
    ) -> npt.NDArray[np.float32]:
        import numpy as np
        import ray

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        shards = _shards(list(texts), len(self.actors), batch_size)
        refs = [
            actor.encode.remote(shard, batch_size, normalize)
            for actor, shard in zip(self.actors, shards, strict=False)
        ]
        return np.concatenate(ray.get(refs), axis=0).astype(np.float32, copy=False)

    def count_tokens(self, text: str) -> int:
        return self.local.count_tokens(text)

    def placement(self) -> list[dict[str, Any]]:
        """Return where each actor runs now and how many shards it encoded (for tests)."""
        import ray

        return list(ray.get([a.where.remote() for a in self.actors]))

    def close(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)
        self.actors = []


def _resources() -> str:
    """Return the cluster's total and free CPUs and its nodes' CPUs, for an error message."""
    import ray as ray_mod

    ray: Any = ray_mod  # its state functions are untyped

    total = ray.cluster_resources().get("CPU", 0.0)
    free = ray.available_resources().get("CPU", 0.0)
    nodes = [n.get("Resources", {}).get("CPU", 0.0) for n in ray.nodes() if n.get("Alive")]
    per_node = ", ".join(f"{c:g}" for c in nodes)
    return f"CPU total {total:g}, free {free:g}, per node [{per_node}]"


def _line(file: Path | None, key: str) -> int | None:
    """Return the line of ``key`` (dotted) in the pipeline file, or None (unset, unreadable)."""
    if file is None:
        return None
    from llmops.yamlfile import load_yaml

    try:
        return load_yaml(file).line_of(key.split("."))
    except (OSError, ValueError):
        return None


def _check_feasible(ray: RaySpec, file: Path | None) -> None:
    """Fail at once when no node has ``ray.cpus_per_actor`` CPUs (Ray would wait forever)."""
    import ray as untyped

    ray_mod: Any = untyped

    nodes = [n.get("Resources", {}).get("CPU", 0.0) for n in ray_mod.nodes() if n.get("Alive")]
    if not nodes or max(nodes) < ray.cpus_per_actor:
        raise ConfigError(
            f"'ray.cpus_per_actor': no node of the Ray cluster has {ray.cpus_per_actor:g} CPUs "
            f"for an actor; cluster {_resources()}",
            file=file,
            line=_line(file, "ray.cpus_per_actor"),
            key="ray.cpus_per_actor",
            hint="lower ray.cpus_per_actor to at most one node's CPUs, or add a bigger node",
        )


def _shards(texts: list[str], parts: int, batch_size: int) -> list[list[str]]:
    """Cut ``texts`` into at most ``parts`` contiguous shards on batch boundaries."""
    batches = -(-len(texts) // batch_size)
    per = -(-batches // max(1, parts)) * batch_size
    return [texts[i : i + per] for i in range(0, len(texts), per)]


def ray_embedder(
    local: Embedder, spec: str, device: str, ray: RaySpec, file: Path | None = None
) -> RayEmbedder:
    """Return the process-wide actor pool for this model and cluster (created once).

    ``file`` is the pipeline file that configured ``ray`` (named by errors).
    """
    key = (ray.address or os.environ.get("RAY_ADDRESS", ""), spec, ray.actors, ray.cpus_per_actor)
    with _LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = RayEmbedder(local, spec, device, ray, file)
        return pool


def close_ray_pools() -> None:
    """Kill the actor pools of this process (the cluster stays up)."""
    with _LOCK:
        for pool in _POOLS.values():
            pool.close()
        _POOLS.clear()


def with_executor(pipe: Any, executor: str | None, address: str | None) -> None:
    """Apply ``--executor``/``--address`` to a pipeline loaded from its file (in place)."""
    from llmops.errors import UsageError
    from llmops.suggest import did_you_mean

    choice = executor or pipe.spec.executor
    if choice not in ("local", "ray"):
        guess = did_you_mean(choice, ["local", "ray"])
        raise UsageError(
            f"unknown executor '{choice}'" + (f" (did you mean '{guess}'?)" if guess else ""),
            hint="--executor takes local or ray",
        )
    if address is not None and choice != "ray":
        raise UsageError("--address is for --executor ray", hint="add --executor ray")
    ray = pipe.spec.ray.model_copy(update={"address": address}) if address else pipe.spec.ray
    pipe.spec = pipe.spec.model_copy(update={"executor": choice, "ray": ray})
