"""Adapters: use a llmops ``Retriever`` as a LangChain retriever or a LlamaIndex retriever.

Both libraries are imported only when an adapter is created.
"""

from __future__ import annotations

from typing import Any

from llmops.rag.retriever import RetrievedChunk, Retriever

__all__ = ["as_langchain_retriever", "as_llamaindex_retriever"]


def _metadata(chunk: RetrievedChunk) -> dict[str, Any]:
    """Return what both libraries carry of a chunk: where it comes from, and its own metadata."""
    return {
        "source": chunk.source,
        "title": chunk.title,
        "heading_path": chunk.heading_path,
        "chunk_index": chunk.chunk_index,
        **chunk.metadata,
    }


def as_langchain_retriever(
    retriever: Retriever, *, k: int = 5, hybrid: bool = False, mmr: bool = False,
    filters: dict[str, Any] | None = None,
) -> Any:  # fmt: skip
    """Return a ``langchain_core.retrievers.BaseRetriever`` over ``retriever``."""
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
    from pydantic import ConfigDict

    class LLMOpsLangChainRetriever(BaseRetriever):
        """LangChain view of a llmops retriever; metadata carries score and lineage."""

        model_config = ConfigDict(arbitrary_types_allowed=True)

        inner: Any
        k: int = 5
        hybrid: bool = False
        mmr: bool = False
        filters: dict[str, Any] | None = None

        def _get_relevant_documents(
            self, query: str, *, run_manager: CallbackManagerForRetrieverRun
        ) -> list[Document]:
            result = self.inner.retrieve(
                query, k=self.k, filters=self.filters, hybrid=self.hybrid, mmr=self.mmr
            )
            lineage = result.lineage.model_dump(mode="json")
            return [
                Document(
                    page_content=c.text,
                    id=c.id,
                    metadata={"id": c.id, "score": c.score, **_metadata(c), "lineage": lineage},
                )
                for c in result.chunks
            ]

    return LLMOpsLangChainRetriever(inner=retriever, k=k, hybrid=hybrid, mmr=mmr, filters=filters)


def as_llamaindex_retriever(
    retriever: Retriever, *, k: int = 5, hybrid: bool = False, mmr: bool = False,
    filters: dict[str, Any] | None = None,
) -> Any:  # fmt: skip
    """Return a ``llama_index.core.retrievers.BaseRetriever`` over ``retriever``."""
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

    class LLMOpsLlamaIndexRetriever(BaseRetriever):
        """LlamaIndex view of a llmops retriever; node metadata carries source and lineage."""

        def __init__(self) -> None:
            super().__init__()

        def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
            result = retriever.retrieve(
                query_bundle.query_str, k=k, filters=filters, hybrid=hybrid, mmr=mmr
            )
            lineage = result.lineage.model_dump(mode="json")
            return [
                NodeWithScore(
                    node=TextNode(
                        id_=c.id,
                        text=c.text,
                        metadata={**_metadata(c), "index_version": lineage["index_version"]},
                    ),
                    score=c.score,
                )
                for c in result.chunks
            ]

    return LLMOpsLlamaIndexRetriever()
