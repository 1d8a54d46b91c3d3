"""RAG: versioned, incremental, crash-safe indexing pipelines into Qdrant, and retrieval.

``Pipeline.from_yaml(path).run()`` builds and serves an index version;
``Retriever.from_pipeline(name).retrieve(query)`` queries what is served. Heavy libraries
(qdrant-client, langchain, sentence-transformers) load inside the functions that use them.
"""

from __future__ import annotations

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
