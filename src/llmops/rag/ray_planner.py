"""Planning on Ray: the actors load and chunk the changed files, the driver keeps the plan.

``RayPlanner`` is the local ``Planner`` with one stage moved: discovery, hashing and the
incremental decision (reuse a file whose hash the served manifest lists) stay in the driver;
each changed file is queued, and every ``ray.files_per_call`` files go as one call to the next
actor of the embedding pool (``rag/ray_executor.py``), which runs the loaders and the
``Chunker`` there (``chunk_files``). The driver then takes the results back **in discovery
order** and records them exactly as the local planner does (the spool, document entries, the
counts), so the plan, the chunk ids, the index version and the manifest equal a local run's.
At most ``4 x actors`` calls are in flight, so the driver's memory stays bounded.

Failures: a file a loader cannot read is skipped and counted as ``unreadable`` (as locally); an
actor killed mid-call is restarted by Ray and the call re-run (``max_task_retries``); a driver
killed while planning leaves nothing behind (the spool has no name) and the next run plans
again. A document whose source name another document already took is chunked again in the
driver under its renamed source, as the local planner names it.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from llmops.rag.chunking import Chunk, Chunker
from llmops.rag.manifest import DocumentEntry
from llmops.rag.planner import Planner

if TYPE_CHECKING:
    from llmops.rag.build import Progress
    from llmops.rag.documents import FileEntry
    from llmops.rag.manifest import Manifest
    from llmops.rag.pipeline import Pipeline
    from llmops.rag.planner import BuildPlan
    from llmops.rag.spec import ChunkingSpec, ParsingSpec, SourceSpec
    from llmops.rag.spool import Spool

__all__ = ["RayPlanner", "chunk_files"]

#: One loaded document as it comes back from an actor: (source name, title, its chunks).
LoadedDocument = tuple[str, str, list[Chunk]]

_ERRORS = (OSError, UnicodeDecodeError, ValueError)  # what the local planner skips a file for


def chunk_files(
    actor: Any,
    files: list[tuple[FileEntry, SourceSpec]],
    parsing: ParsingSpec,
    chunking: ChunkingSpec,
    model: str,
) -> list[list[LoadedDocument] | str]:
    """On an actor: each file's documents and chunks, or ``"unreadable: <error>"``."""
    from llmops.rag.documents import load_file

    key = f"{chunking.model_dump_json()}|{model}"
    chunker = actor.chunkers.get(key)
    if chunker is None:
        chunker = actor.chunkers[key] = Chunker(chunking, model)
    out: list[list[LoadedDocument] | str] = []
    for entry, source in files:
        try:
            out.append(
                [
                    (doc.source, doc.title, list(chunker.chunks(doc)))
                    for doc in load_file(entry, source, parsing)
                ]
            )
        except _ERRORS as exc:
            out.append(f"unreadable: {type(exc).__name__}")
    return out


class RayPlanner(Planner):
    """A ``Planner`` whose changed files are loaded and chunked by the Ray actor pool."""

    def __init__(self, pipeline: Pipeline, spool: Spool, progress: Progress) -> None:
        super().__init__(pipeline, spool, progress)
        self._pool: Any = None
        # In discovery order: ("reuse", key, documents) or ("chunk", i, entry, source, call).
        self._slots: deque[tuple[Any, ...]] = deque()
        self._queued: list[tuple[FileEntry, SourceSpec]] = []
        self._calls: list[Any] = []  # object refs of the calls, by call number
        self._results: dict[int, list[Any]] = {}
        self.dispatched = 0

    def run(self, reuse: Manifest | None) -> BuildPlan:
        """Plan as locally; the changed files are chunked on the cluster meanwhile."""
        super().run(reuse)
        self._dispatch()
        self._drain(0)
        return self.plan

    def _reuse(self, key: str, documents: list[tuple[str, DocumentEntry]]) -> None:
        self._slots.append(("reuse", key, documents))
        self._drain(self._window())

    def _chunk_file(self, i: int, entry: FileEntry, source: SourceSpec) -> None:
        self._slots.append(("chunk", i, entry, source, len(self._calls), len(self._queued)))
        self._queued.append((entry, source))
        if len(self._queued) >= self.pipeline.spec.ray.files_per_call:
            self._dispatch()
            self._drain(self._window())

    def _window(self) -> int:
        return 4 * self.pipeline.spec.ray.actors

    def _dispatch(self) -> None:
        """Send the queued files to the next actor (round robin)."""
        if not self._queued:
            return
        if self._pool is None:
            self._pool = self.pipeline.build_embedder()
        actor = self._pool.actors[len(self._calls) % len(self._pool.actors)]
        spec = self.pipeline.spec
        files, self._queued = self._queued, []
        self._calls.append(
            actor.chunk_files.remote(files, spec.parsing, spec.chunking, self.pipeline.model_spec)
        )
        self.dispatched += len(files)
        self.progress("dispatch", {"dispatched": self.dispatched})

    def _drain(self, window: int) -> None:
        """Record slots in order while more than ``window`` calls are unrecorded."""
        while self._slots:
            slot = self._slots[0]
            if slot[0] == "chunk":
                call = slot[4]
                if call >= len(self._calls):  # still queued: not sent yet
                    return
                if call not in self._results:
                    if len(self._calls) - call <= window:
                        return
                    import ray

                    self._results = {call: ray.get(self._calls[call])}  # older ones are done
                self._slots.popleft()
                self._record_file(slot[1], slot[2], slot[3], self._results[call][slot[5]])
            else:
                self._slots.popleft()
                super()._reuse(slot[1], slot[2])

    def _record_file(
        self, i: int, entry: FileEntry, source: SourceSpec, result: list[LoadedDocument] | str
    ) -> None:
        """Record one file's documents and spool its chunks, as ``Planner._chunk_file`` does."""
        plan, counts = self.plan, self._counts
        key = f"{i}:{entry.rel}"
        if isinstance(result, str):
            plan.files[key].skipped = result
            plan.skip("unreadable")
            return
        names = [name for name, _, _ in result]
        if len(set(names)) < len(names) or any(name in plan.documents for name in names):
            super()._chunk_file(i, entry, source)  # a renamed source: its chunk ids change
            return
        for name, title, chunks in result:
            for chunk in chunks:
                self.spool.add(chunk)
            plan.spooled += len(chunks)
            counts["documents"] += 1
            counts["chunks"] += len(chunks)
            if not chunks:
                plan.skip("empty")
                plan.empty_documents.append(name)
            plan.documents[name] = DocumentEntry(
                file=key, title=title, chunks=[(c.id, c.content_hash) for c in chunks]
            )
            self.progress("chunk", counts)
