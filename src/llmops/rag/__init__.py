"""RAG: versioned, incremental, crash-safe indexing pipelines into Qdrant, and retrieval.

``Pipeline.from_yaml(path).run()`` builds and serves an index version;
``Retriever.from_pipeline(name).retrieve(query)`` queries what is served. Heavy libraries
(qdrant-client, langchain, sentence-transformers) load inside the functions that use them, and
the public names below load their modules on first use: ``llmops query`` imports the retriever
and the pipeline, not the chunkers, loaders and adapters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmops.lazy import lazy_names as _lazy_names

# public name -> module that defines it (loaded on first attribute access)
_LAZY: dict[str, str] = {
    "as_langchain_retriever": "llmops.rag.adapters",
    "as_llamaindex_retriever": "llmops.rag.adapters",
    "Chunk": "llmops.rag.chunking",
    "Chunker": "llmops.rag.chunking",
    "export_python_docs": "llmops.rag.corpus",
    "Document": "llmops.rag.documents",
    "Section": "llmops.rag.documents",
    "register_loader": "llmops.rag.documents",
    "Manifest": "llmops.rag.manifest",
    "BuildResult": "llmops.rag.pipeline",
    "Pipeline": "llmops.rag.pipeline",
    "Reranker": "llmops.rag.retriever",
    "RetrievalResult": "llmops.rag.retriever",
    "RetrievedChunk": "llmops.rag.retriever",
    "Retriever": "llmops.rag.retriever",
    "create_reranker": "llmops.rag.retriever",
    "register_reranker": "llmops.rag.retriever",
    "PipelineSpec": "llmops.rag.spec",
    "VectorStore": "llmops.rag.store",
    "close_stores": "llmops.rag.store",
    "open_store": "llmops.rag.store",
}

__all__ = [
    "BuildResult",
    "Chunk",
    "Chunker",
    "Document",
    "Manifest",
    "Pipeline",
    "PipelineSpec",
    "Reranker",
    "RetrievalResult",
    "RetrievedChunk",
    "Retriever",
    "Section",
    "VectorStore",
    "as_langchain_retriever",
    "as_llamaindex_retriever",
    "close_stores",
    "create_reranker",
    "export_python_docs",
    "open_store",
    "register_loader",
    "register_reranker",
]

if TYPE_CHECKING:  # the names re-exported in __all__, for type checkers
    from llmops.rag.adapters import as_langchain_retriever, as_llamaindex_retriever
    from llmops.rag.chunking import Chunk, Chunker
    from llmops.rag.corpus import export_python_docs
    from llmops.rag.documents import Document, Section, register_loader
    from llmops.rag.manifest import Manifest
    from llmops.rag.pipeline import BuildResult, Pipeline
    from llmops.rag.retriever import (
        Reranker,
        RetrievalResult,
        RetrievedChunk,
        Retriever,
        create_reranker,
        register_reranker,
    )
    from llmops.rag.spec import PipelineSpec
    from llmops.rag.store import VectorStore, close_stores, open_store


__getattr__ = _lazy_names(__name__, _LAZY, globals())
