"""Planning a build: discover the sources, reuse what did not change, chunk and spool the rest.

Files whose hash matches the served manifest keep their document and chunk lists (their points
are copied later, vectors included); every other file is loaded, chunked and its new chunks
spooled to disk. The result is a ``BuildPlan``: exactly the chunks the new version must hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from llmops.errors import ConfigError
from llmops.rag.chunking import Chunker
from llmops.rag.documents import FileEntry, discover, load_file
from llmops.rag.manifest import DocumentEntry, FileRecord, Manifest
from llmops.rag.spec import SourceSpec
from llmops.rag.spool import Spool

if TYPE_CHECKING:
    from llmops.rag.build import Progress
    from llmops.rag.pipeline import Pipeline

__all__ = ["BuildPlan", "Planner"]


@dataclass
class BuildPlan:
    """What a run found: file records, documents (with chunk ids), skips, spooled chunks."""

    files: dict[str, FileRecord] = field(default_factory=dict)
    documents: dict[str, DocumentEntry] = field(default_factory=dict)
    reused_files: set[str] = field(default_factory=set)
    spooled: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    empty_documents: list[str] = field(default_factory=list)  # documents that made no chunk
    duplicates: int = 0

    def chunk_ids(self) -> list[str]:
        """Return every planned chunk id, in document order."""
        return [cid for d in self.documents.values() for cid, _ in d.chunks]

    def skip(self, reason: str) -> None:
        """Count one skipped file or document."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


class Planner:
    """Turn a pipeline's sources into a ``BuildPlan``, spooling new chunks."""

    def __init__(self, pipeline: Pipeline, spool: Spool, progress: Progress) -> None:
        self.pipeline = pipeline
        self.spool = spool
        self.progress = progress
        self.plan = BuildPlan()
        self._chunker: Chunker | None = None
        self._counts = {"files": 0, "documents": 0, "chunks": 0, "skipped": 0}

    def run(self, reuse: Manifest | None) -> BuildPlan:
        """Discover files; reuse chunk lists of unchanged files, chunk and spool the rest."""
        by_file: dict[str, list[tuple[str, DocumentEntry]]] = {}
        if reuse is not None:
            for src, doc_entry in reuse.documents.items():
                by_file.setdefault(doc_entry.file, []).append((src, doc_entry))
        seen_hashes: dict[str, str] = {}
        for i, source in enumerate(self.pipeline.spec.sources):
            root = self.pipeline.source_root(source)
            if source.type == "directory" and not root.is_dir():
                raise ConfigError(
                    f"source folder {root} does not exist",
                    file=self.pipeline.path,
                    key=f"sources.{i}.path",
                    hint="fix the path (relative to the project root)",
                )
            for entry in discover(root, source):
                key = f"{i}:{entry.rel}"
                if not self._record(key, entry, seen_hashes):
                    continue
                old = reuse.files.get(key) if reuse is not None else None
                if old is not None and old.sha256 == entry.sha256 and old.skipped is None:
                    self._reuse(key, by_file.get(key, []))
                    continue
                self._chunk_file(i, entry, source)
        return self.plan

    def _record(self, key: str, entry: FileEntry, seen_hashes: dict[str, str]) -> bool:
        """Record a discovered file; return False if it is skipped or a duplicate."""
        plan, counts = self.plan, self._counts
        counts["files"] += 1
        record = FileRecord(
            sha256=entry.sha256,
            size=entry.size,
            skipped=entry.problem,
            encoding=entry.encoding if entry.encoding != "utf-8" else None,
        )
        plan.files[key] = record
        if entry.problem is not None:
            plan.skip(entry.problem)
            counts["skipped"] += 1
            self.progress("discover", counts)
            return False
        if entry.sha256 in seen_hashes:
            record.duplicate_of = seen_hashes[entry.sha256]
            plan.duplicates += 1
            return False
        seen_hashes[entry.sha256] = key
        return True

    def _reuse(self, key: str, documents: list[tuple[str, DocumentEntry]]) -> None:
        for src, doc in documents:
            self.plan.documents[src] = doc
            self._counts["chunks"] += len(doc.chunks)
            self._counts["documents"] += 1
        self.plan.reused_files.add(key)
        self.progress("chunk", self._counts)

    def _chunk_file(self, i: int, entry: FileEntry, source: SourceSpec) -> None:
        plan, counts = self.plan, self._counts
        if self._chunker is None:
            self._chunker = Chunker(self.pipeline.spec.chunking, self.pipeline.model_spec)
        key = f"{i}:{entry.rel}"
        try:
            for doc in load_file(entry, source, self.pipeline.spec.parsing):
                if doc.source in plan.documents:  # two sources with the same relative path
                    doc.source = f"{key}"
                chunks: list[tuple[str, str]] = []
                for chunk in self._chunker.chunks(doc):
                    self.spool.add(chunk)
                    chunks.append((chunk.id, chunk.content_hash))
                    plan.spooled += 1
                counts["documents"] += 1
                counts["chunks"] += len(chunks)
                if not chunks:
                    plan.skip("empty")
                    plan.empty_documents.append(doc.source)
                plan.documents[doc.source] = DocumentEntry(file=key, title=doc.title, chunks=chunks)
                self.progress("chunk", counts)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            # Checked files can still fail (changed under us, malformed HTML): skip, count.
            plan.files[key].skipped = f"unreadable: {type(exc).__name__}"
            plan.skip("unreadable")
            for src in [s for s, d in plan.documents.items() if d.file == key]:
                del plan.documents[src]
