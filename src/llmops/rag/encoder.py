"""The chunk encoder: points (dense and sparse vectors + payload) for spooled chunks.

A chunk whose content the served version already embedded gets that vector back (matched by
content hash, fetched from the served collection); only the rest go through the embedder. The
caller hands windows already sorted by length, so encoder batches carry little padding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmops.rag.manifest import Manifest
from llmops.rag.spool import SpooledChunk
from llmops.rag.store import Point

if TYPE_CHECKING:
    from llmops.rag.pipeline import Pipeline

__all__ = ["ChunkEncoder"]


class ChunkEncoder:
    """Make points for spooled chunks, reusing served vectors by content hash."""

    def __init__(self, pipeline: Pipeline, served: str | None, reuse: Manifest | None) -> None:
        self.pipeline = pipeline
        self.served = served
        self.reusable: dict[str, str] = {}  # content hash -> a served chunk id with that content
        if reuse is not None and served is not None:
            for doc in reuse.documents.values():
                for cid, content_hash in doc.chunks:
                    self.reusable.setdefault(content_hash, cid)
        self._sparse: Any = None
        if pipeline.spec.sparse.enabled:
            from llmops.rag.sparse import SparseEncoder

            self._sparse = SparseEncoder(pipeline.spec.sparse)

    def points(self, records: list[SpooledChunk]) -> tuple[list[Point], int]:
        """Return dense-only points for ``records`` (in order) and how many were newly embedded."""
        vectors: dict[str, list[float]] = {}
        reuse_ids = [self.reusable[r["h"]] for r in records if r["h"] in self.reusable]
        if reuse_ids and self.served is not None:
            by_id = {p.id: p for p in self.pipeline.store().fetch(self.served, reuse_ids)}
            for r in records:
                point = by_id.get(self.reusable.get(r["h"], ""))
                if point is not None and point.dense is not None:
                    vectors[r["id"]] = point.dense
        todo = [r for r in records if r["id"] not in vectors]
        if todo:
            spec = self.pipeline.spec.embedding
            encoded = self.pipeline.build_embedder().encode(
                [r["t"] for r in todo], batch_size=spec.batch_size, normalize=spec.normalize
            )
            for r, vec in zip(todo, encoded, strict=True):
                vectors[r["id"]] = vec.tolist()
        points = [Point(id=r["id"], payload=r["p"], dense=vectors[r["id"]]) for r in records]
        return points, len(todo)

    def add_sparse(self, points: list[Point], records: list[SpooledChunk]) -> None:
        """Set the sparse vectors (when the pipeline has them); the writer thread calls this."""
        if self._sparse is None:
            return
        for point, record in zip(points, records, strict=True):
            point.sparse = self._sparse.document(record["t"])
