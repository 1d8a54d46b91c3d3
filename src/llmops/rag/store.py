"""The vector store: one Qdrant client per local folder or server URL, per process.

Embedded (local) mode lets only one process open a folder, so llmops takes an owner lock
(``<folder>/.llmops-owner.lock``; the pid is in ``.llmops-owner``) before opening it and keeps one client per folder
for the life of the process: a gateway that serves from the store can also run
``Pipeline.run()`` in-process on the same client. A second process gets a ``StateError`` naming
the owner pid. A Qdrant server or cluster (``qdrant.url`` + the API key from ``api_key_env``)
goes through the same ``VectorStore`` methods; only the client construction differs.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import StateError

if TYPE_CHECKING:
    from filelock import FileLock
    from qdrant_client import QdrantClient

    from llmops.config import Settings

__all__ = ["DENSE", "SPARSE", "VectorStore", "close_stores", "open_store"]

DENSE = "dense"
SPARSE = "sparse"

_REGISTRY: dict[str, VectorStore] = {}
_REGISTRY_LOCK = threading.Lock()


@dataclass(eq=False)
class VectorStore:
    """Collection, point and alias operations over one Qdrant client (local or server)."""

    client: QdrantClient
    where: str
    lock: threading.RLock = field(default_factory=threading.RLock)
    _owner_lock: FileLock | None = None

    # -- collections ---------------------------------------------------------------------------

    def collections(self) -> list[str]:
        """Return the names of all collections."""
        with self.lock:
            return [c.name for c in self.client.get_collections().collections]

    def exists(self, name: str) -> bool:
        """Return True if a collection (not an alias) called ``name`` exists."""
        return name in self.collections()

    def create(self, name: str, dim: int, *, sparse: bool) -> None:
        """Create a collection with a named dense vector (cosine) and optional sparse vector."""
        from qdrant_client import models

        with self.lock:
            self.client.create_collection(
                name,
                vectors_config={
                    DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)
                },
                sparse_vectors_config=(
                    {SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)}
                    if sparse
                    else None
                ),
            )

    def drop(self, name: str) -> None:
        """Delete a collection if it exists."""
        with self.lock:
            if name in self.collections():
                self.client.delete_collection(name)

    def dense_dim(self, name: str) -> int | None:
        """Return the dense vector size of a collection (or alias)."""
        with self.lock:
            info = self.client.get_collection(name)
        vectors = info.config.params.vectors
        if isinstance(vectors, dict) and DENSE in vectors:
            return int(vectors[DENSE].size)
        return None

    def has_sparse(self, name: str) -> bool:
        """Return True if the collection stores sparse vectors."""
        with self.lock:
            info = self.client.get_collection(name)
        return bool(info.config.params.sparse_vectors)

    def count(self, name: str) -> int:
        """Return the exact number of points."""
        with self.lock:
            return int(self.client.count(name, exact=True).count)

    # -- aliases -------------------------------------------------------------------------------

    def alias_target(self, alias: str) -> str | None:
        """Return the collection an alias points at, or None."""
        with self.lock:
            for a in self.client.get_aliases().aliases:
                if a.alias_name == alias:
                    return str(a.collection_name)
        return None

    def switch_alias(self, alias: str, collection: str) -> None:
        """Point ``alias`` at ``collection`` in one atomic operation."""
        from qdrant_client import models

        ops: list[Any] = []
        if self.alias_target(alias) is not None:
            ops.append(
                models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))
            )
        ops.append(
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=collection, alias_name=alias)
            )
        )
        with self.lock:
            self.client.update_collection_aliases(change_aliases_operations=ops)

    # -- points --------------------------------------------------------------------------------

    def ids(self, name: str, batch: int = 2048) -> set[str]:
        """Return every point id of a collection."""
        out: set[str] = set()
        offset: Any = None
        while True:
            with self.lock:
                points, offset = self.client.scroll(
                    name, limit=batch, offset=offset, with_payload=False, with_vectors=False
                )
            out.update(str(p.id) for p in points)
            if offset is None:
                return out

    def fetch(self, name: str, ids: Sequence[str]) -> list[Any]:
        """Return points (payload and all vectors) by id."""
        with self.lock:
            return list(
                self.client.retrieve(name, ids=list(ids), with_payload=True, with_vectors=True)
            )

    def upsert(self, name: str, points: Iterable[Any]) -> None:
        """Write points (``qdrant_client.models.PointStruct``) and wait until stored."""
        batch = list(points)
        if batch:
            with self.lock:
                self.client.upsert(name, points=batch, wait=True)

    def delete(self, name: str, ids: Sequence[str]) -> None:
        """Delete points by id."""
        from qdrant_client import models

        if ids:
            with self.lock:
                self.client.delete(
                    name, points_selector=models.PointIdsList(points=list(ids)), wait=True
                )

    @contextlib.contextmanager
    def bulk_writes(self, name: str) -> Iterator[None]:
        """Write a not-yet-served local collection without an fsync per point.

        Embedded Qdrant commits every point to SQLite separately; with ``synchronous=FULL``
        each commit waits for the disk, which dominates copying unchanged points on a busy
        machine. A killed process cannot corrupt SQLite with ``synchronous=OFF`` (only an OS
        crash could), and the file is fsynced before the alias may point at the collection.
        Server clients are left alone.
        """
        storage = self._local_storage(name)
        if storage is None:
            yield
            return
        with self.lock:
            storage.storage.execute("PRAGMA synchronous=OFF")
        try:
            yield
        finally:
            with self.lock:
                storage.storage.execute("PRAGMA synchronous=FULL")
            with contextlib.suppress(OSError):
                fd = os.open(storage.location, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

    def _local_storage(self, name: str) -> Any:
        # qdrant-client local mode internals (1.20): client._client.collections[name].storage
        collections = getattr(getattr(self.client, "_client", None), "collections", None)
        if not isinstance(collections, dict) or name not in collections:
            return None
        storage = getattr(collections[name], "storage", None)
        if storage is None or not hasattr(storage, "storage") or not hasattr(storage, "location"):
            return None
        return storage

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the client and release the owner lock."""
        with contextlib.suppress(Exception):
            self.client.close()
        if self._owner_lock is not None:
            with contextlib.suppress(OSError):
                self._owner_lock.release()
            self._owner_lock = None


def _take_owner_lock(folder: Path) -> FileLock:
    """Lock ``<folder>/.llmops-owner.lock`` for this process, or raise StateError naming the owner.

    The owner's pid is written next to the lock (``.llmops-owner``) for the error message.
    """
    from llmops.atomic import atomic_write_text
    from llmops.locks import try_lock

    folder.mkdir(parents=True, exist_ok=True)
    owner_file = folder / ".llmops-owner"
    lock = try_lock(folder / ".llmops-owner.lock")
    if lock is None:
        try:
            owner = json.loads(owner_file.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            owner = {}
        pid = owner.get("pid", "?")
        raise StateError(
            f"the embedded Qdrant store at {folder} is open in another process (pid {pid})",
            hint="stop that process (or send this work through it, e.g. the gateway's admin "
            "API), or run a Qdrant server and set qdrant.url in llmops.yaml",
        ) from None
    atomic_write_text(owner_file, json.dumps({"pid": os.getpid(), "argv": " ".join(sys.argv[:3])}))
    return lock


def _open_local(folder: Path) -> VectorStore:
    from qdrant_client import QdrantClient

    owner = _take_owner_lock(folder)
    try:
        client = QdrantClient(path=str(folder), force_disable_check_same_thread=True)
    except RuntimeError as exc:  # Qdrant's own lock: a process that does not use llmops
        owner.release()
        raise StateError(
            f"the embedded Qdrant store at {folder} is open in another process",
            hint=f"{exc}; stop that process or run a Qdrant server and set qdrant.url",
        ) from None
    except BaseException:
        owner.release()
        raise
    return VectorStore(client=client, where=str(folder), _owner_lock=owner)


def _open_server(url: str, api_key_env: str, timeout: float) -> VectorStore:
    from qdrant_client import QdrantClient

    api_key = os.environ.get(api_key_env) or None
    client = QdrantClient(url=url, api_key=api_key, timeout=max(1, int(timeout)))
    try:
        client.get_collections()
    except Exception as exc:
        with contextlib.suppress(Exception):
            client.close()
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StateError(
            f"the Qdrant server at {url} does not answer ({reason[:200]}); nothing was changed",
            key="qdrant.url",
            hint="start the server or fix qdrant.url / LLMOPS_QDRANT_URL "
            f"(API key read from ${api_key_env})",
        ) from None
    return VectorStore(client=client, where=url)


def open_store(settings: Settings) -> VectorStore:
    """Return this process's store for ``settings`` (opened on first use, then shared)."""
    if settings.qdrant.url:
        key = f"url:{settings.qdrant.url}|{settings.qdrant.api_key_env}"
    else:
        key = f"path:{settings.qdrant_path}"
    with _REGISTRY_LOCK:
        store = _REGISTRY.get(key)
        if store is None or getattr(store.client, "_client", None) is None:
            if settings.qdrant.url:
                store = _open_server(
                    settings.qdrant.url, settings.qdrant.api_key_env, settings.qdrant.timeout
                )
            else:
                store = _open_local(settings.qdrant_path)
            if not _REGISTRY:
                atexit.register(close_stores)  # close before interpreter teardown
            _REGISTRY[key] = store
        return store


def close_stores() -> None:
    """Close every store this process opened (tests and shutdown hooks call this)."""
    with _REGISTRY_LOCK:
        stores = list(_REGISTRY.values())
        _REGISTRY.clear()
    for store in stores:
        store.close()
