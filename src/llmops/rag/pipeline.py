"""A pipeline file bound to project settings: its names, sources, store, embedder and versions.

``Pipeline.run()`` builds and serves a new index version (the stages are in ``build.py``:
planner, spool, encoder, writer); ``collect_garbage()`` and ``rollback()`` are in
``versions.py``. A kill at any point leaves the alias on the previous good version.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from llmops.errors import NotFoundError
from llmops.lineage import IndexLineage
from llmops.rag.build import BuildResult, Progress, run_build
from llmops.rag.documents import discover
from llmops.rag.manifest import FileRecord, Manifest, ManifestStore
from llmops.rag.planner import Planner
from llmops.rag.spec import PipelineSpec, SourceSpec
from llmops.rag.store import VectorStore, open_store, pipeline_backend
from llmops.validation import load_yaml_model

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.embeddings import Embedder
    from llmops.rag.spool import Spool

__all__ = ["BuildResult", "Pipeline", "Progress"]


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
            from llmops.suggest import did_you_mean

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
            self._store = open_store(self.settings, pipeline_backend(self))
        return self._store

    def embedder(self, spec: str | None = None) -> Embedder:
        """Return the process-wide embedder of this pipeline (or of ``spec``, e.g. the served one)."""
        from llmops.embeddings import get_embedder

        if self.settings.embedding.threads:
            os.environ.setdefault("LLMOPS_EMBEDDING_THREADS", str(self.settings.embedding.threads))
        return get_embedder(spec or self.model_spec, device=self.settings.embedding.device)

    def build_embedder(self) -> Embedder:
        """Return what embeds a build's new chunks: this process, or a Ray actor pool."""
        if self.spec.executor == "local":
            return self.embedder()
        from llmops.rag.ray_executor import ray_embedder

        device = self.settings.embedding.device
        return ray_embedder(self.embedder(), self.model_spec, device, self.spec.ray, self.path)

    def planner(self, spool: Spool, progress: Progress) -> Planner:
        """Return what plans a build: this process, or the Ray actors loading and chunking."""
        if self.spec.executor == "local":
            return Planner(self, spool, progress)
        from llmops.rag.ray_planner import RayPlanner

        return RayPlanner(self, spool, progress)

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
        from llmops.locks import file_lock

        lock = self.manifests.root / "build.lock"
        with file_lock(lock, timeout=1.0, what=f"the index build of pipeline '{self.name}'"):
            return run_build(
                self,
                full=full,
                progress=progress or (lambda stage, counts: None),
                allow_shrink=allow_shrink,
            )

    # -- versions ------------------------------------------------------------------------------

    def collect_garbage(self) -> list[str]:
        """Drop versions past ``retention`` and leftovers of abandoned builds; return them."""
        from llmops.rag.versions import collect_garbage

        return collect_garbage(self)

    def rollback(self, to: str | None = None) -> tuple[str | None, str]:
        """Point the alias at an older retained version; return (previous, new) versions."""
        from llmops.locks import file_lock
        from llmops.rag.versions import rollback

        with file_lock(
            self.manifests.root / "build.lock", timeout=1.0, what=f"pipeline '{self.name}'"
        ):
            return rollback(self, to)

    def lineage(self, version: str, collection: str | None = None) -> IndexLineage:
        """Return the lineage record of ``version``."""
        return IndexLineage(
            pipeline=self.name,
            index_version=version,
            pipeline_hash=self.pipeline_hash,
            embedding_model=self.model_spec,
            collection=collection or self.collection_name(version),
        )
