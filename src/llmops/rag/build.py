"""One index build, stage by stage.

(1) the planner discovers and checks files and chunks those that changed since the served
version (unchanged files reuse their chunk list from its manifest), spooling new chunks to disk
so memory stays bounded; (2) the index version is derived from the planned chunk ids; (3) the
writer fills the versioned collection ``<alias>__<version>``: points already there are kept (a
killed run resumes), unchanged chunks are copied from the served collection with their vectors,
only new chunks are embedded; (4) the point count is verified against the plan, the manifest
written, and only then (5) the alias switched in one atomic operation and versions past
``retention`` collected. A kill at any point leaves the alias on the previous good version; the
``index.*`` failpoints (``llmops.failpoints``) let the crash tests kill it there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import CheckFailedError, StateError
from llmops.failpoints import failpoint
from llmops.lineage import IndexLineage
from llmops.rag.checks import check_shrink
from llmops.rag.manifest import Manifest, index_version, library_versions, now_iso
from llmops.rag.planner import BuildPlan
from llmops.rag.spool import Spool
from llmops.rag.versions import collect_garbage
from llmops.rag.writer import IndexWriter

if TYPE_CHECKING:
    from llmops.rag.pipeline import Pipeline

__all__ = ["BuildResult", "Progress", "run_build"]

#: ``progress(stage, counts)``: called as work advances (stage: discover/chunk/embed/done).
Progress = Callable[[str, dict[str, int]], None]


@dataclass
class BuildResult:
    """What a run did."""

    pipeline: str
    index_version: str
    collection: str
    switched: bool
    previous_version: str | None
    counts: dict[str, Any]
    timings: dict[str, float]
    lineage: IndexLineage
    manifest_path: Path


@dataclass
class _Version:
    """The version a build makes, next to the one served when it started."""

    version: str
    collection: str
    previous: str | None


def run_build(pipe: Pipeline, *, full: bool, progress: Progress, allow_shrink: bool) -> BuildResult:
    """Build (incrementally unless ``full``) and serve a new index version of ``pipe``."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    store = pipe.store()
    served_collection = store.alias_target(pipe.spec.alias)
    served = pipe.served() if served_collection else None
    model_id = pipe.model_spec
    dim = _dim(pipe, served, model_id)
    if served_collection is not None and not full:
        served_dim = store.dense_dim(served_collection)
        if served_dim is not None and served_dim != dim:
            raise StateError(
                f"the embedding model '{model_id}' has dimension {dim} but the served "
                f"collection '{served_collection}' has {served_dim}; rebuild with --full",
                hint=f"run `llmops index run {pipe.name} --full` to rebuild with the new model",
            )
    reuse = (
        served
        if served is not None
        and not full
        and served.pipeline_hash == pipe.pipeline_hash
        and served.embedding_model == model_id
        else None
    )
    with Spool(pipe.manifests.root) as spool:
        plan = pipe.planner(spool, progress).run(reuse)
        timings["chunk"] = time.perf_counter() - t0
        chunk_ids = plan.chunk_ids()
        if len(set(chunk_ids)) != len(chunk_ids):  # pragma: no cover - ids include position
            raise StateError("duplicate chunk ids in one build; please report this")
        version = index_version(pipe.pipeline_hash, model_id, dim, chunk_ids)
        target = _Version(
            version, pipe.collection_name(version), served.index_version if served else None
        )
        served_chunks = (
            served.chunk_count
            if served is not None
            else (store.count(served_collection) if served_collection else None)
        )
        if not allow_shrink:
            check_shrink(pipe, served_chunks, len(chunk_ids), plan.skipped)
        counts = _counts(pipe, plan, served)
        if served_collection == target.collection and not full:
            if store.count(target.collection) == len(chunk_ids):
                counts["kept"] = len(chunk_ids)
                timings["total"] = time.perf_counter() - t0
                progress("done", counts)
                return _result(pipe, target, False, counts, timings)
        failpoint("index.before_collection")
        writer = IndexWriter(pipe, plan, counts, progress)
        writer.fill(target.collection, dim, spool, full=full, reuse=reuse)
        timings.update(writer.timings)
    if counts["embedded"]:  # which implementation made the new vectors (onnx, torch, ...)
        counts["encoder"] = pipe.embedder().model_id
    t1 = time.perf_counter()
    failpoint("index.before_verify")
    stored = store.count(target.collection)
    if stored != len(chunk_ids):
        raise CheckFailedError(
            f"index verification failed: collection '{target.collection}' holds {stored} "
            f"points, the manifest lists {len(chunk_ids)}; the alias was not switched",
            hint=f"run `llmops index run {pipe.name}` again (it resumes), or with --full",
        )
    timings["verify"] = time.perf_counter() - t1
    timings["total"] = time.perf_counter() - t0
    pipe.manifests.write(
        Manifest(
            pipeline=pipe.name,
            index_version=version,
            pipeline_hash=pipe.pipeline_hash,
            embedding_model=model_id,
            dim=dim,
            collection=target.collection,
            alias=pipe.spec.alias,
            sparse=pipe.spec.sparse.enabled,
            created_at=now_iso(),
            counts=counts,
            timings={k: round(v, 4) for k, v in timings.items()},
            libraries=library_versions(),
            files=plan.files,
            documents=plan.documents,
        )
    )
    failpoint("index.before_switch")
    switched = served_collection != target.collection
    if switched:
        store.switch_alias(pipe.spec.alias, target.collection)
        pipe.manifests.record_switch(version, "build")
    failpoint("index.after_switch")
    collect_garbage(pipe)
    progress("done", counts)
    return _result(pipe, target, switched, counts, timings)


def _counts(pipe: Pipeline, plan: BuildPlan, served: Manifest | None) -> dict[str, Any]:
    chunk_ids = plan.chunk_ids()
    return {
        "files": len(plan.files),
        "documents": len(plan.documents),
        "chunks": len(chunk_ids),
        "skipped": sum(plan.skipped.values()),
        "skipped_by_reason": dict(sorted(plan.skipped.items())),
        "skipped_files": _skipped_files(pipe, plan),
        "decoded": {pipe.file_label(k): r.encoding for k, r in plan.files.items() if r.encoding},
        "duplicates": plan.duplicates,
        "embedded": 0,
        "copied": 0,
        "kept": 0,
        "removed": 0,
        "dropped": len(set(served.chunk_ids()) - set(chunk_ids)) if served is not None else 0,
    }


def _skipped_files(pipe: Pipeline, plan: BuildPlan) -> dict[str, str]:
    out = {pipe.file_label(k): r.skipped for k, r in plan.files.items() if r.skipped}
    for source in plan.empty_documents:
        out.setdefault(pipe.file_label(source) if ":" in source else source, "empty")
    return dict(sorted(out.items()))


def _dim(pipe: Pipeline, served: Manifest | None, model_id: str) -> int:
    # A no-change run should not pay for loading the model: trust the served manifest.
    if served is not None and served.embedding_model == model_id:
        return served.dim
    return int(pipe.embedder().dim)


def _result(
    pipe: Pipeline,
    target: _Version,
    switched: bool,
    counts: dict[str, Any],
    timings: dict[str, float],
) -> BuildResult:
    return BuildResult(
        pipeline=pipe.name,
        index_version=target.version,
        collection=target.collection,
        switched=switched,
        previous_version=target.previous,
        counts=counts,
        timings={k: round(v, 4) for k, v in timings.items()},
        lineage=pipe.lineage(target.version, target.collection),
        manifest_path=pipe.manifests.path(target.version),
    )
