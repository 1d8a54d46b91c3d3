"""The vector store seam: what the index build and the retriever need from a vector database.

``VectorStore`` is the Protocol; ``Point`` and ``Query`` are the only shapes that cross it, so
no backend's model classes leak into the pipeline or the retriever. ``open_store(settings,
backend)`` returns one store per folder or server URL per process (an embedded store can be
opened by one process only, so a gateway that serves from it also builds into it in-process).
Backends: ``edge`` (Qdrant Edge in-process, ``rag/edge_store.py``), ``local`` (qdrant-client's
local mode) and ``server`` (a Qdrant server by URL), both in ``rag/qdrant_store.py``.

Which one a pipeline uses (``pipeline_backend``): its file's ``store.backend`` when set;
otherwise (``auto``) the server when ``qdrant.url`` is set, else the embedded backend recorded
for the pipeline (``<state>/rag/<name>/store.json``, written at first use and switched by
``llmops index migrate``), else ``local`` for an index built before Edge existed (manifests but
no record), else ``qdrant.embedded`` (default ``edge``).
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from llmops.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from llmops.config import Settings
    from llmops.rag.pipeline import Pipeline

__all__ = [
    "BACKENDS",
    "DENSE",
    "SPARSE",
    "Point",
    "Query",
    "SparseVector",
    "VectorStore",
    "close_stores",
    "edge_path",
    "match_terms",
    "record_point",
    "open_store",
    "pipeline_backend",
    "record_backend",
]

DENSE = "dense"
SPARSE = "sparse"

#: Store backends: Qdrant Edge in-process, qdrant-client's local mode, a Qdrant server by URL.
BACKENDS = ("edge", "local", "server")
_MARKER = "store.json"

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


def record_point(record: Any) -> Point:
    """Turn a backend's record (``id``, ``payload``, ``vector`` by name, ``score``) into a Point."""
    vector = record.vector if isinstance(record.vector, dict) else {}
    dense = vector.get(DENSE)
    sparse = vector.get(SPARSE)
    return Point(
        id=str(record.id),
        payload=dict(record.payload or {}),
        dense=list(dense) if dense is not None else None,
        sparse=(list(sparse.indices), [float(v) for v in sparse.values])
        if sparse is not None
        else None,
        score=float(getattr(record, "score", 0.0) or 0.0),
    )


def match_terms(filters: dict[str, Any] | None) -> list[tuple[str, Any, bool]]:
    """Return ``Query.filters`` as (key, value, any_of) terms: a list/tuple/set means any of."""
    return [
        (key, list(value), True) if isinstance(value, list | tuple | set) else (key, value, False)
        for key, value in (filters or {}).items()
    ]


def edge_path(settings: Settings) -> Path:
    """Return the Qdrant Edge folder: next to the local-mode folder (``<state>/qdrant-edge``)."""
    local = settings.qdrant_path
    return local.with_name(f"{local.name}-edge")


def open_store(settings: Settings, backend: str | None = None) -> VectorStore:
    """Return this process's store of ``backend`` (default: the server if ``qdrant.url`` is set,
    else ``qdrant.embedded``), opened on first use, then shared."""
    backend = backend or ("server" if settings.qdrant.url else settings.qdrant.embedded)
    if backend == "server":
        if not settings.qdrant.url:
            raise ConfigError(
                "the server backend needs a Qdrant URL",
                key="qdrant.url",
                hint="set qdrant.url in llmops.yaml (or LLMOPS_QDRANT_URL)",
            )
        key = f"url:{settings.qdrant.url}|{settings.qdrant.api_key_env}"
    elif backend == "edge":
        key = f"edge:{edge_path(settings)}"
    else:
        key = f"path:{settings.qdrant_path}"
    with _REGISTRY_LOCK:
        store = _REGISTRY.get(key)
        if store is None or store.closed:
            store = _open(settings, backend)
            if not _REGISTRY:
                atexit.register(close_stores)  # close before interpreter teardown
            _REGISTRY[key] = store
        return store


def _open(settings: Settings, backend: str) -> VectorStore:
    from llmops.rag.qdrant_store import open_local, open_server

    if backend == "server":
        url = settings.qdrant.url or ""  # set: checked by open_store
        return open_server(url, settings.qdrant.api_key_env, settings.qdrant.timeout)
    if backend == "edge":
        from llmops.rag.edge_store import open_edge

        return open_edge(edge_path(settings))
    return open_local(settings.qdrant_path)


def pipeline_backend(pipe: Pipeline) -> str:
    """Return the backend serving ``pipe`` (see the module docstring for the order)."""
    import json

    chosen = pipe.spec.store.backend
    settings = pipe.settings
    if chosen == "server" and not settings.qdrant.url:
        line = None
        if pipe.path is not None:
            from llmops.yamlfile import load_yaml

            line = load_yaml(pipe.path).line_of(("store", "backend"))
        raise ConfigError(
            "store.backend is 'server' but no Qdrant URL is configured",
            file=pipe.path,
            line=line,
            key="store.backend",
            hint="set qdrant.url in llmops.yaml (or LLMOPS_QDRANT_URL), or use auto, edge or local",
        )
    if chosen != "auto":
        return chosen
    if settings.qdrant.url:
        return "server"
    marker = pipe.manifests.root / _MARKER
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8")).get("backend")
    except FileNotFoundError:
        recorded = None
    except ValueError:
        recorded = "invalid"
    if recorded in ("edge", "local"):
        return str(recorded)
    if recorded is not None:
        raise ConfigError(
            f"{marker} does not name an embedded backend (edge or local)",
            file=marker,
            key="backend",
            hint='write {"backend": "local"} or {"backend": "edge"} into it, '
            "whichever store holds the index",
        )
    if pipe.manifests.versions():
        return "local"  # built before Edge was a backend: local mode serves it until migrated
    record_backend(pipe, settings.qdrant.embedded)
    return settings.qdrant.embedded


def record_backend(pipe: Pipeline, backend: str) -> None:
    """Record (atomically) which embedded backend holds ``pipe``'s index."""
    from llmops.atomic import atomic_write_json

    atomic_write_json(pipe.manifests.root / _MARKER, {"backend": backend})


def close_stores() -> None:
    """Close every store this process opened (tests and shutdown hooks call this)."""
    with _REGISTRY_LOCK:
        stores = list(_REGISTRY.values())
        _REGISTRY.clear()
    for store in stores:
        store.close()
