"""The vector store seam: what the index build and the retriever need from a vector database.

``VectorStore`` is the Protocol; ``Point`` and ``Query`` are the only shapes that cross it, so
no backend's model classes leak into the pipeline or the retriever. ``open_store(settings)``
returns one store per local folder or server URL per process (an embedded store can be opened by
one process only, so a gateway that serves from it also builds into it in-process). The Qdrant
backend (local folder or server) lives in ``rag/qdrant_store.py``; another backend implements
the same methods and is chosen in ``open_store``.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from llmops.config import Settings

__all__ = [
    "DENSE",
    "SPARSE",
    "Point",
    "Query",
    "SparseVector",
    "VectorStore",
    "close_stores",
    "open_store",
]

DENSE = "dense"
SPARSE = "sparse"

#: A sparse vector as (indices, values).
SparseVector = tuple[list[int], list[float]]

_REGISTRY: dict[str, VectorStore] = {}
_REGISTRY_LOCK = threading.Lock()


@dataclass
class Point:
    """One stored chunk: id, payload, its vectors (when asked for) and a search score."""

    id: str
    payload: dict[str, Any] = field(default_factory=dict)
    dense: list[float] | None = None
    sparse: SparseVector | None = None
    score: float = 0.0


@dataclass
class Query:
    """A nearest-neighbour query: dense, or hybrid (dense + sparse fused by RRF) when ``sparse``.

    ``filters`` maps payload keys (dotted for nested ones) to a value or a list of values (any
    of them matches).
    """

    dense: list[float]
    limit: int
    sparse: SparseVector | None = None
    filters: dict[str, Any] | None = None
    prefetch: int | None = None  # candidates per vector in hybrid mode (default: limit)
    with_dense: bool = False


@runtime_checkable
class VectorStore(Protocol):
    """Collection, point and alias operations over one vector database."""

    where: str

    def collections(self) -> list[str]:
        """Return the names of all collections."""
        ...

    def exists(self, name: str) -> bool:
        """Return True if a collection (not an alias) called ``name`` exists."""
        ...

    def create(self, name: str, dim: int, *, sparse: bool) -> None:
        """Create a collection with a named dense vector (cosine) and optional sparse vector."""
        ...

    def drop(self, name: str) -> None:
        """Delete a collection if it exists."""
        ...

    def dense_dim(self, name: str) -> int | None:
        """Return the dense vector size of a collection (or alias)."""
        ...

    def has_sparse(self, name: str) -> bool:
        """Return True if the collection stores sparse vectors."""
        ...

    def count(self, name: str) -> int:
        """Return the exact number of points."""
        ...

    def alias_target(self, alias: str) -> str | None:
        """Return the collection an alias points at, or None."""
        ...

    def switch_alias(self, alias: str, collection: str) -> None:
        """Point ``alias`` at ``collection`` in one atomic operation."""
        ...

    def ids(self, name: str) -> set[str]:
        """Return every point id of a collection."""
        ...

    def fetch(self, name: str, ids: Sequence[str]) -> list[Point]:
        """Return points (payload and all vectors) by id; missing ids are left out."""
        ...

    def upsert(self, name: str, points: Iterable[Point]) -> None:
        """Write points and wait until they are stored."""
        ...

    def delete(self, name: str, ids: Sequence[str]) -> None:
        """Delete points by id."""
        ...

    def search(self, name: str, query: Query) -> list[Point]:
        """Return the nearest points of a collection (or alias), best first, with payloads."""
        ...

    def payloads(self, name: str, keys: Sequence[str], limit: int) -> list[dict[str, Any]]:
        """Return the ``keys`` of up to ``limit`` payloads (to list what filters can match)."""
        ...

    def bulk_writes(self, name: str) -> AbstractContextManager[None]:
        """Write a not-yet-served collection in bulk mode (durable when the block exits)."""
        ...

    def close(self) -> None:
        """Release the store (connections, locks)."""
        ...

    @property
    def closed(self) -> bool:
        """Return True once ``close()`` ran."""
        ...


def open_store(settings: Settings) -> VectorStore:
    """Return this process's store for ``settings`` (opened on first use, then shared)."""
    from llmops.rag.qdrant_store import open_local, open_server

    if settings.qdrant.url:
        key = f"url:{settings.qdrant.url}|{settings.qdrant.api_key_env}"
    else:
        key = f"path:{settings.qdrant_path}"
    with _REGISTRY_LOCK:
        store = _REGISTRY.get(key)
        if store is None or store.closed:
            if settings.qdrant.url:
                store = open_server(
                    settings.qdrant.url, settings.qdrant.api_key_env, settings.qdrant.timeout
                )
            else:
                store = open_local(settings.qdrant_path)
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
