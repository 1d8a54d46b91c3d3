"""Pipelines: build a versioned, incremental, crash-safe index from a pipeline file.

A run (``build.py`` does steps 1, 2 and 4) (1) discovers and checks files, (2) chunks the files that changed since the served
version (unchanged files reuse their chunk list from its manifest), spooling new chunks to disk
so memory stays bounded, (3) derives the index version, (4) fills the versioned collection
``<alias>__<version>``: points already there are kept (a crashed run resumes), unchanged chunks
are copied from the served collection with their vectors, only new chunks are embedded,
(5) verifies the point count against the manifest, writes the manifest, and only then (6)
switches the alias in one atomic operation and garbage-collects versions past ``retention``.
A kill at any point leaves the alias on the previous good version.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import CheckFailedError, NotFoundError, StateError
from llmops.files import load_yaml_model
from llmops.lineage import IndexLineage
from llmops.rag.build import Build, BuildPlan, crash_point
from llmops.rag.checks import check_shrink
from llmops.rag.documents import discover
from llmops.rag.manifest import (
    FileRecord,
    Manifest,
    ManifestStore,
    index_version,
    library_versions,
    now_iso,
)
from llmops.rag.spec import PipelineSpec, SourceSpec
from llmops.rag.store import VectorStore, open_store

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.embeddings import Embedder

__all__ = ["BuildResult", "Pipeline", "Progress"]

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


class Pipeline:
    """A pipeline file bound to project settings."""

    def __init__(self, spec: PipelineSpec, settings: Settings, *, path: Path | None = None) -> None:
        self.spec = spec
        self.settings = settings
        self.path = path
        self._store: VectorStore | None = None

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def from_yaml(cls, path: str | Path, settings: Settings | None = None) -> Pipeline:
        """Load a pipeline file (errors name file, line and key)."""
        from llmops.config import load_settings

        path = Path(path).resolve()
        spec = load_yaml_model(path, PipelineSpec)
        return cls(spec, settings or load_settings(path.parent), path=path)

    @classmethod
    def from_name(cls, name: str, settings: Settings | None = None) -> Pipeline:
        """Load ``<pipelines_dir>/<name>.yaml``."""
        from llmops.config import load_settings

        settings = settings or load_settings()
        folder = settings.path("pipelines")
        path = folder / f"{name}.yaml"
        if not path.is_file():
            known = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
            from llmops.files import did_you_mean

            guess = did_you_mean(name, known)
            raise NotFoundError(
                f"no pipeline '{name}' in {folder}"
                + (f" (did you mean '{guess}'?)" if guess else ""),
                hint=f"known pipelines: {', '.join(known) or 'none'}",
            )
        return cls.from_yaml(path, settings)

    @classmethod
    def resolve(cls, ref: str | Path | Pipeline, settings: Settings | None = None) -> Pipeline:
        """Accept a Pipeline, a path to a YAML file, or a pipeline name."""
        if isinstance(ref, Pipeline):
            return ref
        text = str(ref)
        if text.endswith((".yaml", ".yml")) or os.sep in text:
            return cls.from_yaml(text, settings)
        return cls.from_name(text, settings)

    # -- properties ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """Return the pipeline name."""
        return self.spec.name

    @property
    def model_spec(self) -> str:
        """Return the embedder spec in use."""
        return self.spec.embedding.model or self.settings.embedding.model

    @property
    def pipeline_hash(self) -> str:
        """Return the hash of the content-shaping configuration."""
        return self.spec.content_hash(self.model_spec)

    @property
    def manifests(self) -> ManifestStore:
        """Return this pipeline's manifest store."""
        return ManifestStore(self.settings.state_path, self.name)

    def store(self) -> VectorStore:
        """Return the process-wide vector store (opened on first use)."""
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    def embedder(self, spec: str | None = None) -> Embedder:
        """Return the process-wide embedder of this pipeline (or of ``spec``, e.g. the served one)."""
        from llmops.embeddings import get_embedder

        if self.settings.embedding.threads:
            os.environ.setdefault("LLMOPS_EMBEDDING_THREADS", str(self.settings.embedding.threads))
        return get_embedder(spec or self.model_spec, device=self.settings.embedding.device)

    def preload_embedder(self) -> None:
        """Start loading the embedder in the background when that overlaps other work.

        Only an ONNX embedder with a cached export is loaded so (its session builds without the
        GIL); errors surface at the first ``embedder()`` call.
        """
        from llmops.embeddings import preload_embedder

        if self.settings.embedding.threads:
            os.environ.setdefault("LLMOPS_EMBEDDING_THREADS", str(self.settings.embedding.threads))
        preload_embedder(self.model_spec, device=self.settings.embedding.device)

    def file_label(self, key: str) -> str:
        """Return a file key (``<source index>:<path>``) as a person reads it."""
        index, _, rel = key.partition(":")
        if len(self.spec.sources) == 1 or not index.isdigit():
            return rel or key
        source = self.spec.sources[int(index)]
        return f"{source.path or source.type}/{rel}"

    def _skipped_files(self, plan: BuildPlan) -> dict[str, str]:
        out = {self.file_label(k): r.skipped for k, r in plan.files.items() if r.skipped}
        for source in plan.empty_documents:
            out.setdefault(self.file_label(source) if ":" in source else source, "empty")
        return dict(sorted(out.items()))

    def collection_name(self, version: str) -> str:
        """Return the versioned collection name."""
        return f"{self.spec.alias}__{version}"

    def source_root(self, source: SourceSpec) -> Path:
        """Return the folder a source reads, exporting the sample corpus if needed."""
        if source.type == "pydoc":
            from llmops.rag.corpus import export_python_docs

            dest = self.settings.state_path / "corpus" / self.name
            export_python_docs(dest, topics=source.topics, modules=source.modules)
            return dest
        path = Path(source.path or ".").expanduser()
        if path.is_absolute():
            return path
        # Relative to the project root; without llmops.yaml, to the folder above rag_pipelines/.
        if self.settings.config_file is None and self.path is not None:
            parent = self.path.parent
            base = parent.parent if parent.name == self.settings.pipelines_dir else parent
        else:
            base = self.settings.root
        path = base / path
        return path

    # -- status --------------------------------------------------------------------------------

    def served(self) -> Manifest | None:
        """Return the manifest of the version the alias serves, if any."""
        target = self.store().alias_target(self.spec.alias)
        if target is None:
            return None
        version = target.rsplit("__", 1)[-1]
        return self.manifests.read(version)

    def changed_files(self, manifest: Manifest | None = None) -> dict[str, list[str]]:
        """Compare the sources with a manifest: added, changed and removed files."""
        manifest = manifest or self.served()
        old = manifest.files if manifest else {}
        now: dict[str, FileRecord] = {}
        for i, source in enumerate(self.spec.sources):
            root = self.source_root(source)
            for entry in discover(root, source):
                now[f"{i}:{entry.rel}"] = FileRecord(sha256=entry.sha256, size=entry.size)
        added = sorted(k for k in now if k not in old)
        removed = sorted(k for k in old if k not in now)
        changed = sorted(k for k in now if k in old and old[k].sha256 != now[k].sha256)
        return {"added": added, "changed": changed, "removed": removed}

    # -- build ---------------------------------------------------------------------------------

    def run(
        self, *, full: bool = False, progress: Progress | None = None, allow_shrink: bool = False
    ) -> BuildResult:
        """Build (incrementally unless ``full``) and serve a new index version.

        A build that would leave the served index empty, or smaller by more than
        ``store.max_shrink``, is refused before anything is written unless ``allow_shrink``.
        """
        from llmops.files import file_lock

        lock = self.manifests.root / "build.lock"
        with file_lock(lock, timeout=1.0, what=f"the index build of pipeline '{self.name}'"):
            return self._run(
                full=full,
                progress=progress or (lambda stage, counts: None),
                allow_shrink=allow_shrink,
            )

    def _run(self, *, full: bool, progress: Progress, allow_shrink: bool) -> BuildResult:
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        store = self.store()
        alias = self.spec.alias
        served_collection = store.alias_target(alias)
        served = self.served() if served_collection else None
        model_id = self.model_spec
        dim = self._dim(served, model_id)
        if served_collection is not None and not full:
            served_dim = store.dense_dim(served_collection)
            if served_dim is not None and served_dim != dim:
                raise StateError(
                    f"the embedding model '{model_id}' has dimension {dim} but the served "
                    f"collection '{served_collection}' has {served_dim}; rebuild with --full",
                    hint=f"run `llmops index run {self.name} --full` to rebuild with the new model",
                )
        reuse = (
            served
            if served is not None
            and not full
            and served.pipeline_hash == self.pipeline_hash
            and served.embedding_model == model_id
            else None
        )
        spool_dir = self.manifests.root
        spool_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(
            "w+", encoding="utf-8", dir=spool_dir, prefix="spool-"
        ) as spool:
            build = Build(self, spool, progress)
            plan = build.plan(reuse)
            timings["chunk"] = time.perf_counter() - t0
            chunk_ids = [cid for d in plan.documents.values() for cid, _ in d.chunks]
            if len(set(chunk_ids)) != len(chunk_ids):  # pragma: no cover - ids include position
                raise StateError("duplicate chunk ids in one build; please report this")
            version = index_version(self.pipeline_hash, model_id, dim, chunk_ids)
            collection = self.collection_name(version)
            served_chunks = (
                served.chunk_count
                if served is not None
                else (store.count(served_collection) if served_collection else None)
            )
            if not allow_shrink:
                check_shrink(self, served_chunks, len(chunk_ids), plan.skipped)
            counts = build.counts
            counts.update(
                {
                    "files": len(plan.files),
                    "documents": len(plan.documents),
                    "chunks": len(chunk_ids),
                    "skipped": sum(plan.skipped.values()),
                    "skipped_by_reason": dict(sorted(plan.skipped.items())),
                    "skipped_files": self._skipped_files(plan),
                    "decoded": {
                        self.file_label(k): r.encoding for k, r in plan.files.items() if r.encoding
                    },
                    "duplicates": plan.duplicates,
                    "embedded": 0,
                    "copied": 0,
                    "kept": 0,
                    "removed": 0,
                    "dropped": (
                        len(set(served.chunk_ids()) - set(chunk_ids)) if served is not None else 0
                    ),
                }
            )
            previous = served.index_version if served else None
            if served_collection == collection and not full:
                if store.count(collection) == len(chunk_ids):
                    counts["kept"] = len(chunk_ids)
                    timings["total"] = time.perf_counter() - t0
                    progress("done", counts)
                    return self._result(version, collection, False, previous, counts, timings)
            crash_point("before_collection")
            build.fill(collection, dim, full=full, served=served_collection, reuse=reuse)
            timings.update(build.timings)
        if counts["embedded"]:  # which implementation made the new vectors (onnx, torch, ...)
            counts["encoder"] = self.embedder().model_id
        t1 = time.perf_counter()
        crash_point("before_verify")
        stored = store.count(collection)
        if stored != len(chunk_ids):
            raise CheckFailedError(
                f"index verification failed: collection '{collection}' holds {stored} points, "
                f"the manifest lists {len(chunk_ids)}; the alias was not switched",
                hint=f"run `llmops index run {self.name}` again (it resumes), or with --full",
            )
        timings["verify"] = time.perf_counter() - t1
        timings["total"] = time.perf_counter() - t0
        manifest = Manifest(
            pipeline=self.name,
            index_version=version,
            pipeline_hash=self.pipeline_hash,
            embedding_model=model_id,
            dim=dim,
            collection=collection,
            alias=alias,
            sparse=self.spec.sparse.enabled,
            created_at=now_iso(),
            counts=counts,
            timings={k: round(v, 4) for k, v in timings.items()},
            libraries=library_versions(),
            files=plan.files,
            documents=plan.documents,
        )
        self.manifests.write(manifest)
        crash_point("before_switch")
        switched = served_collection != collection
        if switched:
            store.switch_alias(alias, collection)
            self.manifests.record_switch(version, "build")
        crash_point("after_switch")
        self.collect_garbage()
        progress("done", counts)
        return self._result(version, collection, switched, previous, counts, timings)

    # -- versions ------------------------------------------------------------------------------

    def collect_garbage(self) -> list[str]:
        """Drop versions past ``retention`` and leftovers of abandoned builds; return them."""
        store = self.store()
        prefix = f"{self.spec.alias}__"
        served = store.alias_target(self.spec.alias)
        manifests = {m.collection: m for m in self.manifests.versions()}
        ours = [c for c in store.collections() if c.startswith(prefix)]
        # newest first; collections without a manifest are abandoned partial builds
        ranked = sorted(
            (c for c in ours if c in manifests and c != served),
            key=lambda c: manifests[c].created_at,
            reverse=True,
        )
        keep = set(ranked[: max(0, self.spec.store.retention - 1)])
        if served:
            keep.add(served)
        dropped = []
        for name in ours:
            if name not in keep:
                store.drop(name)
                dropped.append(name)
        for collection, manifest in manifests.items():
            if collection not in keep:
                self.manifests.delete(manifest.index_version)
        return dropped

    def rollback(self, to: str | None = None) -> tuple[str | None, str]:
        """Point the alias at an older retained version; return (previous, new) versions."""
        from llmops.files import file_lock

        with file_lock(
            self.manifests.root / "build.lock", timeout=1.0, what=f"pipeline '{self.name}'"
        ):
            store = self.store()
            served = self.served()
            current = served.index_version if served else None
            candidates = {
                m.index_version: m
                for m in self.manifests.versions()
                if store.exists(m.collection) and m.index_version != current
            }
            if to is None:
                target = next(
                    (
                        e["version"]
                        for e in reversed(self.manifests.history())
                        if e.get("version") in candidates
                    ),
                    None,
                ) or (
                    sorted(candidates.values(), key=lambda m: m.created_at)[-1].index_version
                    if candidates
                    else None
                )
                if target is None:
                    raise StateError(
                        f"pipeline '{self.name}' has no older version to roll back to",
                        hint=f"versions are kept by store.retention ({self.spec.store.retention})",
                    )
            else:
                matches = [v for v in candidates if v.startswith(to)]
                if to == current:
                    raise StateError(f"version {to} is already served")
                if len(matches) != 1:
                    raise NotFoundError(
                        f"no retained version '{to}' of pipeline '{self.name}'",
                        hint=f"retained: {', '.join(sorted(candidates)) or 'none'}",
                    )
                target = matches[0]
            manifest = candidates[target]
            stored = store.count(manifest.collection)
            if stored != manifest.chunk_count:
                raise CheckFailedError(
                    f"version {target} holds {stored} points, its manifest lists "
                    f"{manifest.chunk_count}; not switching"
                )
            store.switch_alias(self.spec.alias, manifest.collection)
            self.manifests.record_switch(target, "rollback")
            return current, target

    def _dim(self, served: Manifest | None, model_id: str) -> int:
        # A no-change run should not pay for loading the model: trust the served manifest.
        if served is not None and served.embedding_model == model_id:
            return served.dim
        return int(self.embedder().dim)

    def _result(
        self,
        version: str,
        collection: str,
        switched: bool,
        previous: str | None,
        counts: dict[str, Any],
        timings: dict[str, float],
    ) -> BuildResult:
        return BuildResult(
            pipeline=self.name,
            index_version=version,
            collection=collection,
            switched=switched,
            previous_version=previous,
            counts=counts,
            timings={k: round(v, 4) for k, v in timings.items()},
            lineage=self.lineage(version, collection),
            manifest_path=self.manifests.path(version),
        )

    def lineage(self, version: str, collection: str | None = None) -> IndexLineage:
        """Return the lineage record of ``version``."""
        return IndexLineage(
            pipeline=self.name,
            index_version=version,
            pipeline_hash=self.pipeline_hash,
            embedding_model=self.model_spec,
            collection=collection or self.collection_name(version),
        )
