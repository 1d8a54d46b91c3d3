"""The pipeline file format (``rag_pipelines/<name>.yaml``) as pydantic models.

Only the parts that change what ends up in the index (sources, parsing, chunking, embedding
model, sparse vectors) enter the pipeline hash; batch sizes, retention and the store location
do not, so tuning them never forces a rebuild.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llmops.hashing import sha256_text
from llmops.validation import Share, needed_by

__all__ = [
    "ChunkingSpec",
    "EmbeddingSpec",
    "ParsingSpec",
    "PipelineSpec",
    "RaySpec",
    "SourceSpec",
    "SparseSpec",
    "StoreSpec",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceSpec(_Model):
    """Where documents come from: a folder with globs, or the built-in Python docs corpus."""

    type: Literal["directory", "pydoc"] = Field(
        "directory",
        description="'directory': files under path; 'pydoc': the Python docs sample corpus, "
        "exported under <state>/corpus/<name> on first use",
    )
    path: str | None = Field(
        None, description="folder, relative to the project root (directory sources)"
    )
    include: list[str] = Field(
        default_factory=lambda: [
            "**/*.md",
            "**/*.txt",
            "**/*.rst",
            "**/*.html",
            "**/*.jsonl",
            "**/*.pdf",
        ],
        description="glob patterns relative to path",
    )
    exclude: list[str] = Field(default_factory=list, description="glob patterns to leave out")
    text_field: str = Field("text", description="JSONL: the field holding the text")
    id_field: str = Field("id", description="JSONL: the field identifying a record")
    max_file_mb: float = Field(
        1024.0,
        gt=0,
        description="files larger than this (MB) are skipped and counted; text formats are "
        "streamed at any size, PDFs are read whole",
    )
    topics: list[str] | None = Field(
        None, description="pydoc: only these Language Reference topics (default: all)"
    )
    modules: list[str] | None = Field(
        None, description="pydoc: only these standard-library modules (default: the sample set)"
    )

    @model_validator(mode="after")
    def _needs_path(self) -> SourceSpec:
        return needed_by(self, "directory", "path", "a directory source")


class ParsingSpec(_Model):
    """How files become text with a title and section headings."""

    front_matter: bool = Field(True, description="read YAML front matter into metadata")
    headings: bool = Field(True, description="keep section headings as heading_path metadata")


class ChunkingSpec(_Model):
    """Token-aware recursive splitting (tokens of the embedding model)."""

    chunk_size: int = Field(250, ge=16, le=8192, description="tokens per chunk")
    chunk_overlap: int = Field(32, ge=0, description="tokens shared by neighbouring chunks")
    prepend_title: bool = Field(
        True, description="embed 'title > heading' in front of the chunk text"
    )

    @model_validator(mode="after")
    def _overlap_smaller(self) -> ChunkingSpec:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("chunk_overlap must be smaller than chunk_size")
        return self


class EmbeddingSpec(_Model):
    """The embedding model and how it is called."""

    model: str | None = Field(
        None, description="embedder spec ([backend:]model); default: embedding.model of llmops.yaml"
    )
    batch_size: int = Field(16, ge=1, le=1024, description="texts per encode call")
    normalize: bool = Field(True, description="L2-normalise vectors (cosine distance)")


class SparseSpec(_Model):
    """BM25-style sparse vectors stored next to the dense ones (for hybrid retrieval)."""

    enabled: bool = True
    k1: float = Field(1.2, gt=0)
    b: Share = 0.75
    avg_len: float = Field(
        180.0, gt=0, description="assumed average chunk length in words (BM25 length norm)"
    )


class StoreSpec(_Model):
    """The Qdrant collection alias to serve, how many old versions to keep, and the backend."""

    backend: Literal["auto", "edge", "local", "server"] = Field(
        "auto",
        description="'auto': the Qdrant server when qdrant.url is set, else the embedded store "
        "that holds this index (Qdrant Edge for a new one: qdrant.embedded); 'edge': Qdrant "
        "Edge in-process; 'local': qdrant-client's local mode; 'server': qdrant.url. "
        "`llmops index migrate` moves an index between the embedded stores",
    )
    collection: str | None = Field(
        None, description="served alias name; default: the pipeline name"
    )
    retention: int = Field(2, ge=1, le=100, description="index versions kept (served included)")
    upsert_batch: int = Field(256, ge=1, le=10000, description="points per upsert call")
    max_shrink: Share = Field(
        0.5,
        description="largest share of the served chunks a build may lose and still be served "
        "(0.5: a build with less than half the chunks is refused); a build with no chunks is "
        "always refused; `llmops index run --allow-shrink` overrides both",
    )


class RaySpec(_Model):
    """Where ``executor: ray`` embeds: a Ray cluster and its actor pool (rag/ray_executor.py)."""

    address: str | None = Field(
        None, description="head address host:port; default: RAY_ADDRESS or --address"
    )
    actors: int = Field(2, ge=1, le=1024, description="embedding actors (one model each)")
    cpus_per_actor: float = Field(
        1.0, gt=0, le=256, description="CPUs each actor reserves (its ONNX threads)"
    )
    start_timeout: float = Field(
        300.0,
        gt=0,
        le=86400,
        description="seconds to wait for the cluster to place and start every actor before "
        "the run fails (a pool the cluster cannot hold would otherwise wait forever)",
    )
    files_per_call: int = Field(
        8, ge=1, le=10000, description="changed files each actor loads and chunks per call"
    )


class PipelineSpec(_Model):
    """A RAG indexing pipeline."""

    schema_: str | None = Field(None, alias="$schema", description="JSON Schema for editors")
    name: str = Field(description="pipeline name (letters, digits, '-', '_', '.')")
    description: str | None = None
    sources: list[SourceSpec] = Field(min_length=1)
    parsing: ParsingSpec = Field(default_factory=ParsingSpec)
    chunking: ChunkingSpec = Field(default_factory=ChunkingSpec)
    embedding: EmbeddingSpec = Field(default_factory=EmbeddingSpec)
    sparse: SparseSpec = Field(default_factory=SparseSpec)
    store: StoreSpec = Field(default_factory=StoreSpec)
    executor: Literal["local", "ray"] = Field(
        "local", description="where new chunks are embedded: this process or a Ray actor pool"
    )
    ray: RaySpec = Field(default_factory=RaySpec)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                "use letters, digits, '-', '_' or '.', starting with a letter or digit"
            )
        return value

    @property
    def alias(self) -> str:
        """Return the served Qdrant alias."""
        return self.store.collection or self.name

    def content_hash(self, embedding_model: str) -> str:
        """Return the hash of everything that changes the index content."""
        doc: dict[str, Any] = {
            "sources": [s.model_dump(mode="json") for s in self.sources],
            "parsing": self.parsing.model_dump(mode="json"),
            "chunking": self.chunking.model_dump(mode="json"),
            "embedding": {"model": embedding_model, "normalize": self.embedding.normalize},
            "sparse": self.sparse.model_dump(mode="json"),
        }
        return sha256_text(json.dumps(doc, sort_keys=True))[:16]
