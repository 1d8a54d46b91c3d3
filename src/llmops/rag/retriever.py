"""Retrieval over a served index: dense, hybrid (dense + BM25 sparse, RRF), MMR, filters.

Queries go to the pipeline's alias, so a build or rollback switches what is served without
restarting anything. Every result carries the lineage of the version that answered it.
Rerankers (cross-encoders later) plug in through the ``Reranker`` protocol and a registry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from llmops.errors import ConfigError, UsageError
from llmops.lineage import IndexLineage
from llmops.rag.manifest import not_served
from llmops.rag.store import Point, Query
from llmops.registry import Registry
from llmops.suggest import suggestion

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from llmops.config import Settings
    from llmops.providers.base import Context
    from llmops.rag.pipeline import Pipeline

__all__ = [
    "RERANKERS",
    "Mmr",
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

        return Context(**self.model_dump(exclude={"metadata"}))


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


#: Reranker factories by short id (none built in: a cross-encoder is a plugin's job).
RERANKERS: Registry[Callable[..., Reranker]] = Registry("reranker")


def register_reranker(name: str, factory: Callable[..., Reranker]) -> None:
    """Register a reranker factory under a short id."""
    RERANKERS.register(name, factory)


def create_reranker(name: str, **options: Any) -> Reranker:
    """Create a registered reranker; an unknown id gets a did-you-mean."""
    return RERANKERS.get(name)(**options)


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


@dataclass(frozen=True)
class Mmr:
    """Maximal marginal relevance: fetch ``fetch_k`` (default 4k) candidates, keep ``k`` diverse.

    ``lambda_mult`` trades relevance (1.0) against diversity (0.0).
    """

    fetch_k: int | None = None
    lambda_mult: float = 0.5


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
            raise not_served(self.pipeline.name)
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
        mmr: bool | Mmr = False,
    ) -> RetrievalResult:
        """Return the top ``k`` chunks for ``query``; ``mmr=True`` diversifies with ``Mmr()``."""
        if k < 1:
            raise ConfigError("k must be at least 1")
        lineage = self.served_lineage()
        store = self.pipeline.store()
        alias = self.pipeline.spec.alias
        qvec = self.encode(query)
        diversify = mmr if isinstance(mmr, Mmr) else (Mmr() if mmr else None)
        wide = diversify is not None or self.reranker is not None
        fetch_k = diversify.fetch_k if diversify is not None else None
        limit = max(fetch_k or 4 * k, k) if wide else k
        sparse_q = None
        if hybrid:
            if not store.has_sparse(lineage.collection or alias):
                raise ConfigError(
                    f"the served index of '{self.pipeline.name}' has no sparse vectors",
                    hint="set sparse.enabled: true in the pipeline file and rebuild",
                )
            sparse_q = self._sparse_encoder().query(query)
        found = Query(
            dense=qvec.tolist(),
            limit=limit,
            sparse=sparse_q,
            filters=payload_filters(filters),
            prefetch=max(limit, 4 * k),
            with_dense=diversify is not None,
        )
        points = store.search(alias, found)
        if diversify is not None and points:
            import numpy as np

            vectors = np.asarray([p.dense for p in points], dtype=np.float32)
            points = [
                points[i]
                for i in mmr_select(
                    qvec, vectors, k if self.reranker is None else limit, diversify.lambda_mult
                )
            ]
        chunks = [_chunk(p) for p in points]
        if self.reranker is not None:
            chunks = self.reranker.rerank(query, chunks)
        mode = "+".join(m for m, on in (("hybrid", hybrid), ("mmr", diversify)) if on) or "dense"
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
        listed = ", ".join(sorted(known))
        raise UsageError(
            f"unknown filter key '{key}'"
            + suggestion(key.removeprefix("metadata."), sorted(known))
            + f": no chunk of the served index of '{self.pipeline.name}' has it",
            hint=f"keys present: {listed}",
        )

    def _metadata_keys(self, scan: int) -> set[str]:
        keys: set[str] = set()
        for payload in self.pipeline.store().payloads(self.pipeline.spec.alias, ["metadata"], scan):
            keys.update(payload.get("metadata") or {})
        return keys

    def _sparse_encoder(self) -> Any:
        if self._sparse is None:
            from llmops.rag.sparse import SparseEncoder

            self._sparse = SparseEncoder(self.pipeline.spec.sparse)
        return self._sparse


def payload_filters(filters: dict[str, Any] | None) -> dict[str, Any] | None:
    """Name each filter key by its payload path (bare keys are ``metadata.<key>``)."""
    if not filters:
        return None
    return {
        key if key in _TOP_LEVEL or key.startswith("metadata.") else f"metadata.{key}": value
        for key, value in filters.items()
    }


def _chunk(point: Point) -> RetrievedChunk:
    payload = point.payload
    return RetrievedChunk(
        id=point.id,
        text=str(payload.get("text", "")),
        score=point.score,
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
