"""The Qdrant backend of ``VectorStore``: one client per local folder or server URL.

Embedded (local) mode lets only one process open a folder, so llmops takes an owner lock
(``<folder>/.llmops-owner.lock``; the pid is in ``.llmops-owner``) before opening it; a second process gets a
``StateError`` naming the owner pid. A Qdrant server or cluster (``qdrant.url`` + the API key
from ``api_key_env``) goes through the same methods; only the client construction differs.
qdrant-client's model classes stay in this module: callers see ``Point`` and ``Query``.
"""

from __future__ import annotations

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
from llmops.rag.store import DENSE, SPARSE, Point, Query, match_terms, record_point

if TYPE_CHECKING:
    from filelock import FileLock
    from qdrant_client import QdrantClient

__all__ = ["QdrantStore", "open_local", "open_server"]


@dataclass(eq=False)
class QdrantStore:
    """``VectorStore`` over one qdrant-client ``QdrantClient`` (local folder or server)."""

    client: QdrantClient
    where: str
    lock: threading.RLock = field(default_factory=threading.RLock)
    _owner_lock: FileLock | None = None
    _closed: bool = False

    @property
    def closed(self) -> bool:
        """Return True once ``close()`` ran."""
        return self._closed

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

    def ids(self, name: str) -> set[str]:
        """Return every point id of a collection."""
        out: set[str] = set()
        offset: Any = None
        while True:
            with self.lock:
                points, offset = self.client.scroll(
                    name, limit=2048, offset=offset, with_payload=False, with_vectors=False
                )
            out.update(str(p.id) for p in points)
            if offset is None:
                return out

    def fetch(self, name: str, ids: Sequence[str]) -> list[Point]:
        """Return points (payload and all vectors) by id."""
        with self.lock:
            found = self.client.retrieve(name, ids=list(ids), with_payload=True, with_vectors=True)
        return [record_point(p) for p in found]

    def upsert(self, name: str, points: Iterable[Point]) -> None:
        """Write points and wait until stored."""
        batch = [_struct(p) for p in points]
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

    def search(self, name: str, query: Query) -> list[Point]:
        """Return the nearest points (dense, or dense + sparse fused by RRF), best first."""
        from qdrant_client import models

        qfilter = _filter(query.filters)
        with_vectors: Any = [DENSE] if query.with_dense else False
        if query.sparse is not None:
            wide = query.prefetch or query.limit
            indices, values = query.sparse
            prefetch = [
                models.Prefetch(query=query.dense, using=DENSE, limit=wide, filter=qfilter),
                models.Prefetch(
                    query=models.SparseVector(indices=indices, values=values),
                    using=SPARSE,
                    limit=wide,
                    filter=qfilter,
                ),
            ]
            with self.lock:
                response = self.client.query_points(
                    name,
                    prefetch=prefetch,
                    query=models.FusionQuery(fusion=models.Fusion.RRF),
                    limit=query.limit,
                    with_payload=True,
                    with_vectors=with_vectors,
                )
        else:
            with self.lock:
                response = self.client.query_points(
                    name,
                    query=query.dense,
                    using=DENSE,
                    query_filter=qfilter,
                    limit=query.limit,
                    with_payload=True,
                    with_vectors=with_vectors,
                )
        return [record_point(p) for p in response.points]

    def payloads(self, name: str, keys: Sequence[str], limit: int) -> list[dict[str, Any]]:
        """Return the ``keys`` of up to ``limit`` payloads."""
        out: list[dict[str, Any]] = []
        offset: Any = None
        while len(out) < limit:
            with self.lock:
                points, offset = self.client.scroll(
                    name,
                    limit=min(1024, limit - len(out)),
                    offset=offset,
                    with_payload=list(keys),
                    with_vectors=False,
                )
            out.extend(dict(p.payload or {}) for p in points)
            if offset is None:
                break
        return out

    @contextlib.contextmanager
    def bulk_writes(self, name: str) -> Iterator[None]:
        """Write a not-yet-served local collection without an fsync per point.

        Embedded Qdrant commits every point to SQLite separately; with ``synchronous=FULL``
        each commit waits for the disk, which dominates copying unchanged points on a busy
        machine (2,000 points of 384 dims: 19-40 s against 7 s with ``OFF``). qdrant-client has
        no public switch for this, so this one method reads its local storage (see
        ``_local_sqlite``); with any other client layout it writes at the default durability.
        A killed process cannot corrupt SQLite with ``synchronous=OFF`` (only an OS crash
        could), and the file is fsynced before the alias may point at the collection.
        """
        storage = _local_sqlite(self.client, name)
        if storage is None:
            yield
            return
        connection, location = storage
        with self.lock:
            connection.execute("PRAGMA synchronous=OFF")
        try:
            yield
        finally:
            with self.lock:
                connection.execute("PRAGMA synchronous=FULL")
            with contextlib.suppress(OSError), open(location, "rb") as stored:
                os.fsync(stored.fileno())

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the client and release the owner lock."""
        self._closed = True
        with contextlib.suppress(Exception):
            self.client.close()
        if self._owner_lock is not None:
            with contextlib.suppress(OSError):
                self._owner_lock.release()
            self._owner_lock = None


def _local_sqlite(client: Any, name: str) -> tuple[Any, str] | None:
    """Return (sqlite connection, file) of a local collection, or None.

    The one place that reads qdrant-client internals (local mode, 1.20:
    ``client._client.collections[name].storage``), because no public API sets SQLite's
    durability; every step is checked so another layout falls back to the public path.
    """
    collections = getattr(getattr(client, "_client", None), "collections", None)
    if not isinstance(collections, dict) or name not in collections:
        return None
    storage = getattr(collections[name], "storage", None)
    connection = getattr(storage, "storage", None)
    location = getattr(storage, "location", None)
    if connection is None or not hasattr(connection, "execute") or not isinstance(location, str):
        return None
    return connection, location


def _struct(point: Point) -> Any:
    from qdrant_client import models

    vector: dict[str, Any] = {}
    if point.dense is not None:
        vector[DENSE] = point.dense
    if point.sparse is not None:
        vector[SPARSE] = models.SparseVector(indices=point.sparse[0], values=point.sparse[1])
    return models.PointStruct(id=point.id, vector=vector, payload=point.payload)


def _filter(filters: dict[str, Any] | None) -> Any:
    """Turn ``Query.filters`` into a Qdrant filter on the payload."""
    terms = match_terms(filters)
    if not terms:
        return None
    from qdrant_client import models

    return models.Filter(
        must=[
            models.FieldCondition(
                key=key,
                match=models.MatchAny(any=value) if many else models.MatchValue(value=value),
            )
            for key, value, many in terms
        ]
    )


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


def open_local(folder: Path) -> QdrantStore:
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
    return QdrantStore(client=client, where=str(folder), _owner_lock=owner)


def open_server(url: str, api_key_env: str, timeout: float) -> QdrantStore:
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
    return QdrantStore(client=client, where=url)
