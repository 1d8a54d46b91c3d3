"""Retrieval over a served index: dense, hybrid (dense + BM25 sparse, RRF), MMR, filters.

Queries go to the pipeline's alias, so a build or rollback switches what is served without
restarting anything. Every result carries the lineage of the version that answered it.
Rerankers (cross-encoders later) plug in through the ``Reranker`` protocol and a registry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from llmops.errors import ConfigError, NotFoundError, UsageError
from llmops.files import did_you_mean
from llmops.lineage import IndexLineage
from llmops.rag.store import DENSE, SPARSE

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from llmops.config import Settings
    from llmops.providers.base import Context
    from llmops.rag.pipeline import Pipeline

__all__ = [
    "Reranker",
    "RetrievalResult",
    "RetrievedChunk",
    "Retriever",
    "create_reranker",
    "register_reranker",
]

#: Payload fields stored at the top level; any other filter key is looked up in metadata.
_TOP_LEVEL = {"source", "title", "heading_path", "chunk_index", "content_hash", "text"}


class RetrievedChunk(BaseModel):
    """One retrieved chunk."""

    model_config = ConfigDict(extra="forbid")

    id: str
    text: str
    score: float
    source: str
    title: str = ""
    heading_path: list[str] = Field(default_factory=list)
    chunk_index: int = 0
    metadata: dict[str, Any] = Field(default_factory=dict)

    def to_context(self) -> Context:
        """Return this chunk as a provider ``Context``."""
        from llmops.providers.base import Context

        return Context(
            id=self.id,
            text=self.text,
            score=self.score,
            source=self.source,
            title=self.title,
            heading_path=self.heading_path,
            chunk_index=self.chunk_index,
        )


class RetrievalResult(BaseModel):
    """Ranked chunks plus the index version that produced them."""

    model_config = ConfigDict(extra="forbid")

    query: str
    chunks: list[RetrievedChunk]
    lineage: IndexLineage
    mode: str = "dense"

    def contexts(self) -> list[Context]:
        """Return the chunks as provider contexts."""
        return [c.to_context() for c in self.chunks]


@runtime_checkable
class Reranker(Protocol):
    """Reorders candidate chunks for a query (e.g. a cross-encoder)."""

    def rerank(self, query: str, chunks: list[RetrievedChunk]) -> list[RetrievedChunk]:
        """Return ``chunks`` reordered (and possibly rescored), best first."""
        ...


_RERANKERS: dict[str, Callable[..., Reranker]] = {}


def register_reranker(name: str, factory: Callable[..., Reranker]) -> None:
    """Register a reranker factory under a short id."""
    _RERANKERS[name] = factory


def create_reranker(name: str, **options: Any) -> Reranker:
    """Create a registered reranker."""
    if name not in _RERANKERS:
        raise ConfigError(
            f"unknown reranker '{name}'",
            hint=f"registered: {', '.join(sorted(_RERANKERS)) or 'none'}",
        )
    return _RERANKERS[name](**options)


def mmr_select(
    query_vec: npt.NDArray[np.float32],
    vectors: npt.NDArray[np.float32],
    k: int,
    lambda_mult: float,
) -> list[int]:
    """Return indices chosen by maximal marginal relevance (vectors L2-normalised)."""
    import numpy as np

    if len(vectors) == 0:
        return []
    relevance = vectors @ query_vec
    chosen: list[int] = [int(np.argmax(relevance))]
    similarity = vectors @ vectors.T
    while len(chosen) < min(k, len(vectors)):
        redundancy = similarity[:, chosen].max(axis=1)
        score = lambda_mult * relevance - (1 - lambda_mult) * redundancy
        score[chosen] = -np.inf
        chosen.append(int(np.argmax(score)))
    return chosen


class Retriever:
    """Query the index a pipeline serves."""

    def __init__(self, pipeline: Pipeline, *, reranker: Reranker | None = None) -> None:
        self.pipeline = pipeline
        self.reranker = reranker
        self._lineage: dict[str, IndexLineage] = {}
        self._sparse: Any = None
        # The query embedder loads on a second core while the vector store is imported and opened.
        pipeline.preload_embedder()

    @classmethod
    def from_pipeline(
        cls,
        pipeline: str | Any,
        settings: Settings | None = None,
        *,
        reranker: Reranker | None = None,
    ) -> Retriever:
        """Build a retriever from a pipeline name, a pipeline file path, or a Pipeline."""
        from llmops.rag.pipeline import Pipeline

        return cls(Pipeline.resolve(pipeline, settings), reranker=reranker)

    def served_lineage(self) -> IndexLineage:
        """Return the lineage of the version the alias serves now."""
        alias = self.pipeline.spec.alias
        collection = self.pipeline.store().alias_target(alias)
        if collection is None:
            raise NotFoundError(
                f"pipeline '{self.pipeline.name}' has no served index",
                hint=f"build it: llmops index run {self.pipeline.name}",
            )
        cached = self._lineage.get(collection)
        if cached is None:
            version = collection.rsplit("__", 1)[-1]
            manifest = self.pipeline.manifests.read(version)
            cached = IndexLineage(
                pipeline=self.pipeline.name,
                index_version=version,
                pipeline_hash=manifest.pipeline_hash if manifest else self.pipeline.pipeline_hash,
                embedding_model=manifest.embedding_model if manifest else self.pipeline.model_spec,
                collection=collection,
            )
            self._lineage[collection] = cached
        return cached

    def encode(self, query: str) -> npt.NDArray[np.float32]:
        """Return the dense query vector, made by the model the served index was built with."""
        served = self.served_lineage().embedding_model
        vec = self.pipeline.embedder(served).encode(
            [query], batch_size=1, normalize=self.pipeline.spec.embedding.normalize
        )
        out: npt.NDArray[np.float32] = vec[0]
        return out

    def retrieve(
        self,
        query: str,
        k: int = 5,
        filters: dict[str, Any] | None = None,
        hybrid: bool = False,
        mmr: bool = False,
        *,
        fetch_k: int | None = None,
        mmr_lambda: float = 0.5,
    ) -> RetrievalResult:
        """Return the top ``k`` chunks for ``query``."""
        from qdrant_client import models

        if k < 1:
            raise ConfigError("k must be at least 1")
        lineage = self.served_lineage()
        store = self.pipeline.store()
        alias = self.pipeline.spec.alias
        qvec = self.encode(query)
        qfilter = build_filter(filters)
        wide = mmr or self.reranker is not None
        limit = max(fetch_k or 4 * k, k) if wide else k
        with_vectors: Any = [DENSE] if mmr else False
        if hybrid:
            if not store.has_sparse(lineage.collection or alias):
                raise ConfigError(
                    f"the served index of '{self.pipeline.name}' has no sparse vectors",
                    hint="set sparse.enabled: true in the pipeline file and rebuild",
                )
            sparse_q = self._sparse_encoder().query(query)
            prefetch_limit = max(limit, 4 * k)
            prefetch = [
                models.Prefetch(
                    query=qvec.tolist(), using=DENSE, limit=prefetch_limit, filter=qfilter
                ),
                models.Prefetch(
                    query=models.SparseVector(indices=sparse_q[0], values=sparse_q[1]),
                    using=SPARSE,
                    limit=prefetch_limit,
                    filter=qfilter,
                ),
            ]
            with store.lock:
                response = store.client.query_points(
                    alias,
                    prefetch=prefetch,
                    query=models.FusionQuery(fusion=models.Fusion.RRF),
                    limit=limit,
                    with_payload=True,
                    with_vectors=with_vectors,
                )
        else:
            with store.lock:
                response = store.client.query_points(
                    alias,
                    query=qvec,
                    using=DENSE,
                    query_filter=qfilter,
                    limit=limit,
                    with_payload=True,
                    with_vectors=with_vectors,
                )
        points = list(response.points)
        if mmr and points:
            import numpy as np

            rows: list[Any] = [p.vector[DENSE] for p in points]  # type: ignore[index,call-overload]
            vectors = np.asarray(rows, dtype=np.float32)
            points = [
                points[i]
                for i in mmr_select(
                    qvec, vectors, k if self.reranker is None else limit, mmr_lambda
                )
            ]
        chunks = [_chunk(p) for p in points]
        if self.reranker is not None:
            chunks = self.reranker.rerank(query, chunks)
        mode = "+".join(m for m, on in (("hybrid", hybrid), ("mmr", mmr)) if on) or "dense"
        return RetrievalResult(query=query, chunks=chunks[:k], lineage=lineage, mode=mode)

    def check_filters(self, filters: dict[str, Any], *, scan: int = 20_000) -> None:
        """Raise UsageError naming filter keys no chunk of the served index carries.

        A filter on a key that is not in the payload matches nothing, which looks like "no
        results"; call this when a filtered query came back empty. The payload keys are read
        from up to ``scan`` chunks.
        """
        if not filters:
            return
        known = set(_TOP_LEVEL) | self._metadata_keys(scan)
        unknown = []
        for key in filters:
            bare = key.removeprefix("metadata.")
            if bare not in known:
                unknown.append(key)
        if not unknown:
            return
        key = unknown[0]
        guess = did_you_mean(key.removeprefix("metadata."), sorted(known))
        listed = ", ".join(sorted(known))
        raise UsageError(
            f"unknown filter key '{key}'"
            + (f" (did you mean '{guess}'?)" if guess else "")
            + f": no chunk of the served index of '{self.pipeline.name}' has it",
            hint=f"keys present: {listed}",
        )

    def _metadata_keys(self, scan: int) -> set[str]:
        store = self.pipeline.store()
        keys: set[str] = set()
        offset: Any = None
        seen = 0
        while seen < scan:
            with store.lock:
                points, offset = store.client.scroll(
                    self.pipeline.spec.alias,
                    limit=min(1024, scan - seen),
                    offset=offset,
                    with_payload=["metadata"],
                    with_vectors=False,
                )
            seen += len(points)
            for point in points:
                keys.update((point.payload or {}).get("metadata") or {})
            if offset is None:
                break
        return keys

    def _sparse_encoder(self) -> Any:
        if self._sparse is None:
            from llmops.rag.sparse import SparseEncoder

            self._sparse = SparseEncoder(self.pipeline.spec.sparse)
        return self._sparse


def build_filter(filters: dict[str, Any] | None) -> Any:
    """Turn ``{key: value}`` (a list means any of) into a Qdrant filter on the payload."""
    if not filters:
        return None
    from qdrant_client import models

    must: list[Any] = []
    for key, value in filters.items():
        field = key if key in _TOP_LEVEL or key.startswith("metadata.") else f"metadata.{key}"
        if isinstance(value, list | tuple | set):
            match: Any = models.MatchAny(any=list(value))
        else:
            match = models.MatchValue(value=value)
        must.append(models.FieldCondition(key=field, match=match))
    return models.Filter(must=must)


def _chunk(point: Any) -> RetrievedChunk:
    payload = point.payload or {}
    return RetrievedChunk(
        id=str(point.id),
        text=str(payload.get("text", "")),
        score=float(point.score),
        source=str(payload.get("source", "")),
        title=str(payload.get("title", "")),
        heading_path=list(payload.get("heading_path") or []),
        chunk_index=int(payload.get("chunk_index", 0)),
        metadata=dict(payload.get("metadata") or {}),
    )


def parse_filters(items: Sequence[str]) -> dict[str, Any]:
    """Parse ``key=value`` strings (CLI ``--filter``); ints and booleans are converted."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"invalid filter '{item}'", hint="use --filter key=value")
        value: Any = raw
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        elif raw.lstrip("-").isdigit():
            value = int(raw)
        key = key.strip()
        if key in out:
            prev = out[key]
            out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[key] = value
    return out
