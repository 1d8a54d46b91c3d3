"""``executor: ray``: a build embeds its new chunks in a pool of Ray actors.

Everything else of a build stays where it is, so every guarantee of the local path holds
unchanged: the driver (the process running ``llmops index run``) discovers and chunks the files
(content-hash incremental runs, deterministic chunk ids), copies unchanged vectors, writes the
versioned collection, verifies the count and only then switches the alias. What moves to the
cluster is the stage that costs ~95 % of a build's time on this machine, embedding: each slice
of ``store.upsert_batch`` texts is cut into batch-aligned shards, one per actor, encoded by
``ray.actors`` actors (``num_cpus: ray.cpus_per_actor`` each, spread over the nodes) that
load the ONNX model once each, and reassembled in order.

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

    def encode(self, texts: list[str], batch_size: int, normalize: bool) -> npt.NDArray[np.float32]:
        self.calls += 1
        return self.embedder.encode(texts, batch_size=batch_size, normalize=normalize)

    def where(self) -> dict[str, Any]:
        """Return this actor's node id, process id and how many shards it encoded."""
        import ray

        return {
            "node": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "calls": self.calls,
        }


class RayEmbedder:
    """An ``Embedder`` whose ``encode`` runs on a Ray actor pool; tokens are counted here."""

    def __init__(self, local: Embedder, spec: str, device: str, ray: RaySpec) -> None:
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


def _shards(texts: list[str], parts: int, batch_size: int) -> list[list[str]]:
    """Cut ``texts`` into at most ``parts`` contiguous shards on batch boundaries."""
    batches = -(-len(texts) // batch_size)
    per = -(-batches // max(1, parts)) * batch_size
    return [texts[i : i + per] for i in range(0, len(texts), per)]


def ray_embedder(local: Embedder, spec: str, device: str, ray: RaySpec) -> RayEmbedder:
    """Return the process-wide actor pool for this model and cluster (created once)."""
    key = (ray.address or os.environ.get("RAY_ADDRESS", ""), spec, ray.actors, ray.cpus_per_actor)
    with _LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = RayEmbedder(local, spec, device, ray)
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
