"""The Qdrant Edge backend of ``VectorStore``: the Qdrant engine in-process (``qdrant-edge-py``).

One folder per store (``<state>/qdrant-edge`` by default) holding one ``EdgeShard`` per
collection under ``collections/<name>/`` (segments on disk, a write-ahead log, HNSW graphs built
by ``optimize()`` when a bulk write ends) and the aliases in ``aliases.json``, replaced
atomically, so an alias switch is one rename. A collection is created under a temporary name and
renamed into place, and dropped by renaming it away first, so a kill never leaves a half-made
collection under a real name. Like local mode, one process owns the folder (the owner lock of
``qdrant_store``); qdrant_edge's model classes stay in this module.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import NotFoundError, StateError
from llmops.rag.store import DENSE, SPARSE, Point, Query, match_terms, record_point

if TYPE_CHECKING:
    from filelock import FileLock

__all__ = ["EdgeStore", "open_edge"]

_COLLECTIONS = "collections"
_ALIASES = "aliases.json"
_TEMP = ".tmp-"  # collections being created or dropped
_SCROLL = 2048


class EdgeStore:
    """``VectorStore`` over a folder of Qdrant Edge shards (one per collection)."""

    def __init__(self, root: Path, owner_lock: FileLock | None = None) -> None:
        self.root = root
        self.where = str(root)
        self.lock = threading.RLock()
        self._owner_lock = owner_lock
        self._shards: dict[str, Any] = {}
        self._alias_map: dict[str, str] | None = None  # one owner process: only we change it
        self._closed = False

    @property
    def closed(self) -> bool:
        """Return True once ``close()`` ran."""
        return self._closed

    # -- collections ---------------------------------------------------------------------------

    def _folder(self, name: str) -> Path:
        return self.root / _COLLECTIONS / name

    def _shard(self, name: str) -> Any:
        """Return the open shard of a collection or alias (loaded on first use)."""
        from qdrant_edge import EdgeShard

        with self.lock:
            name = self._aliases().get(name, name)
            shard = self._shards.get(name)
            if shard is None:
                folder = self._folder(name)
                if not folder.is_dir():
                    raise NotFoundError(
                        f"no collection '{name}' in the Qdrant Edge store at {self.root}",
                        hint="run `llmops index run <pipeline>` to build it",
                    )
                shard = EdgeShard.load(str(folder))
                self._shards[name] = shard
            return shard

    def collections(self) -> list[str]:
        """Return the names of all collections."""
        folder = self.root / _COLLECTIONS
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and _TEMP not in p.name)

    def exists(self, name: str) -> bool:
        """Return True if a collection (not an alias) called ``name`` exists."""
        return self._folder(name).is_dir()

    def create(self, name: str, dim: int, *, sparse: bool) -> None:
        """Create a collection with a named dense vector (cosine) and optional sparse vector."""
        from qdrant_edge import (
            Distance,
            EdgeConfig,
            EdgeShard,
            EdgeSparseVectorParams,
            EdgeVectorParams,
            Modifier,
        )

        config = EdgeConfig(
            vectors={DENSE: EdgeVectorParams(size=dim, distance=Distance.Cosine)},
            sparse_vectors=(
                {SPARSE: EdgeSparseVectorParams(modifier=Modifier.Idf)} if sparse else None
            ),
        )
        with self.lock:
            if self.exists(name):
                raise StateError(f"collection '{name}' already exists in {self.root}")
            temp = self.root / _COLLECTIONS / f"{_TEMP}{uuid.uuid4().hex}-{name}"
            shard = EdgeShard.create(str(temp), config)
            shard.flush()
            shard.close()
            temp.rename(self._folder(name))

    def drop(self, name: str) -> None:
        """Delete a collection if it exists (renamed away first, then removed) and its aliases."""
        from llmops.atomic import atomic_write_json

        with self.lock:
            aliases = self._aliases()
            if name in aliases.values():  # as Qdrant does: an alias goes with its collection
                self._alias_map = {a: c for a, c in aliases.items() if c != name}
                atomic_write_json(self.root / _ALIASES, self._alias_map)
            shard = self._shards.pop(name, None)
            if shard is not None:
                shard.close()
            folder = self._folder(name)
            if folder.is_dir():
                gone = folder.with_name(f"{_TEMP}{uuid.uuid4().hex}-{name}")
                folder.rename(gone)
                shutil.rmtree(gone, ignore_errors=True)

    def _config(self, name: str) -> dict[str, Any]:
        name = self._aliases().get(name, name)
        path = self._folder(name) / "edge_config.json"
        try:
            return dict(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise NotFoundError(f"no collection '{name}' in {self.root}") from None

    def dense_dim(self, name: str) -> int | None:
        """Return the dense vector size of a collection (or alias)."""
        dense = self._config(name).get("vectors", {}).get(DENSE)
        return int(dense["size"]) if dense else None

    def has_sparse(self, name: str) -> bool:
        """Return True if the collection stores sparse vectors."""
        return SPARSE in (self._config(name).get("sparse_vectors") or {})

    def count(self, name: str) -> int:
        """Return the exact number of points."""
        from qdrant_edge import CountRequest

        with self.lock:
            return int(self._shard(name).count(CountRequest(exact=True)))

    # -- aliases -------------------------------------------------------------------------------

    def _aliases(self) -> dict[str, str]:
        if self._alias_map is None:
            self._alias_map = self._read_aliases()
        return self._alias_map

    def _read_aliases(self) -> dict[str, str]:
        try:
            data = json.loads((self.root / _ALIASES).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise StateError(
                f"{self.root / _ALIASES} is not valid JSON ({exc})",
                hint="it is written atomically; restore it from a backup or rebuild the index",
            ) from None
        return {str(k): str(v) for k, v in data.items()}

    def alias_target(self, alias: str) -> str | None:
        """Return the collection an alias points at, or None."""
        return self._aliases().get(alias)

    def switch_alias(self, alias: str, collection: str) -> None:
        """Point ``alias`` at ``collection`` in one atomic operation (a file rename)."""
        from llmops.atomic import atomic_write_json

        with self.lock:
            if not self.exists(collection):
                raise NotFoundError(f"no collection '{collection}' in {self.root}")
            aliases = {**self._aliases(), alias: collection}
            atomic_write_json(self.root / _ALIASES, dict(sorted(aliases.items())))
            self._alias_map = aliases

    # -- points --------------------------------------------------------------------------------

    def _scroll(self, name: str, with_payload: Any) -> Iterator[Any]:
        from qdrant_edge import ScrollRequest

        offset: Any = None
        while True:
            request = ScrollRequest(
                offset=offset, limit=_SCROLL, with_payload=with_payload, with_vector=False
            )
            with self.lock:
                records, offset = self._shard(name).scroll(request)
            yield from records
            if offset is None or not records:
                return

    def ids(self, name: str) -> set[str]:
        """Return every point id of a collection."""
        return {str(r.id) for r in self._scroll(name, False)}

    def fetch(self, name: str, ids: Sequence[str]) -> list[Point]:
        """Return points (payload and all vectors) by id; missing ids are left out."""
        if not ids:
            return []
        with self.lock:
            found = self._shard(name).retrieve(list(ids), with_payload=True, with_vector=True)
        return [record_point(r) for r in found]

    def upsert(self, name: str, points: Iterable[Point]) -> None:
        """Write points (in the shard's write-ahead log before this returns)."""
        from qdrant_edge import UpdateOperation

        batch = [_struct(p) for p in points]
        if batch:
            with self.lock:
                self._shard(name).update(UpdateOperation.upsert_points(batch))

    def delete(self, name: str, ids: Sequence[str]) -> None:
        """Delete points by id."""
        from qdrant_edge import UpdateOperation

        if ids:
            with self.lock:
                self._shard(name).update(UpdateOperation.delete_points(list(ids)))

    def search(self, name: str, query: Query) -> list[Point]:
        """Return the nearest points (dense, or dense + sparse fused by RRF), best first."""
        from qdrant_edge import Fusion, Prefetch, QueryRequest, SparseVector
        from qdrant_edge import Query as EdgeQuery

        qfilter = _filter(query.filters)
        with_vector: Any = [DENSE] if query.with_dense else False
        nearest = EdgeQuery.Nearest(query.dense, using=DENSE)
        if query.sparse is not None:
            wide = query.prefetch or query.limit
            indices, values = query.sparse
            # k = 2: qdrant-client's and the server's constant (Any: the stub types Fusion.Rrf
            # as unrelated to Fusion, which QueryRequest accepts)
            fusion: Any = Fusion.Rrf(k=2)
            request = QueryRequest(
                limit=query.limit,
                prefetches=[
                    Prefetch(limit=wide, query=nearest, filter=qfilter),
                    Prefetch(
                        limit=wide,
                        query=EdgeQuery.Nearest(SparseVector(indices, values), using=SPARSE),
                        filter=qfilter,
                    ),
                ],
                query=fusion,
                with_payload=True,
                with_vector=with_vector,
            )
        else:
            request = QueryRequest(
                limit=query.limit,
                query=nearest,
                filter=qfilter,
                with_payload=True,
                with_vector=with_vector,
            )
        with self.lock:
            found = self._shard(name).query(request)
        return [record_point(p) for p in found]

    def payloads(self, name: str, keys: Sequence[str], limit: int) -> list[dict[str, Any]]:
        """Return the ``keys`` of up to ``limit`` payloads."""
        out: list[dict[str, Any]] = []
        for record in self._scroll(name, list(keys)):
            out.append(dict(record.payload or {}))
            if len(out) >= limit:
                break
        return out

    @contextlib.contextmanager
    def bulk_writes(self, name: str) -> Iterator[None]:
        """Write a not-yet-served collection; when the block ends, flush and build the HNSW.

        Every write is in the shard's write-ahead log already (a killed build resumes from
        it); the flush makes the segments durable and ``optimize()`` builds the HNSW graphs of
        segments past the indexing threshold, so the alias never points at an unindexed
        collection. After a failure the block only flushes.
        """
        ok = False
        try:
            yield
            ok = True
        finally:
            with self.lock:
                shard = self._shard(name)
                shard.flush()
                if ok:
                    shard.optimize()
                    shard.flush()

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close every shard and release the owner lock."""
        with self.lock:
            self._closed = True
            shards, self._shards = list(self._shards.values()), {}
            for shard in shards:
                with contextlib.suppress(Exception):
                    shard.close()
            if self._owner_lock is not None:
                with contextlib.suppress(OSError):
                    self._owner_lock.release()
                self._owner_lock = None


def _struct(point: Point) -> Any:
    from qdrant_edge import Point as EdgePoint
    from qdrant_edge import SparseVector

    vector: dict[str, Any] = {}
    if point.dense is not None:
        vector[DENSE] = list(point.dense)
    if point.sparse is not None:
        vector[SPARSE] = SparseVector(list(point.sparse[0]), list(point.sparse[1]))
    return EdgePoint(point.id, vector, point.payload)


def _filter(filters: dict[str, Any] | None) -> Any:
    """Turn ``Query.filters`` into an Edge filter on the payload."""
    terms = match_terms(filters)
    if not terms:
        return None
    from qdrant_edge import FieldCondition, Filter, MatchAny, MatchValue

    return Filter(
        must=[
            FieldCondition(key, match=MatchAny(value) if many else MatchValue(value))
            for key, value, many in terms
        ]
    )


def open_edge(folder: Path) -> EdgeStore:
    """Open (creating if needed) the Edge store at ``folder``, owned by this process."""
    from llmops.rag.qdrant_store import _take_owner_lock

    owner = _take_owner_lock(folder)
    collections = folder / _COLLECTIONS
    collections.mkdir(parents=True, exist_ok=True)
    for leftover in collections.glob(f"{_TEMP}*"):  # a kill during create or drop
        shutil.rmtree(leftover, ignore_errors=True)
    return EdgeStore(folder, owner)
