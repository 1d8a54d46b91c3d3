"""Move a pipeline's index between the embedded stores (qdrant-client local mode, Qdrant Edge).

Every retained version (the collections its manifests name) is copied point by point, vectors
and payloads with the same ids, into the target store, its count checked against the source
and the manifest, then the served alias is set there; only then is the pipeline's backend
record (``<state>/rag/<name>/store.json``) replaced, atomically: that replacement is the switch.
A kill before it leaves the old store serving and the record unchanged; the next run drops the
target's partial copies and copies again. Run on a pipeline already in the target store, it
does nothing. The source's collections are kept (``drop_source`` removes them after the switch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from llmops.errors import CheckFailedError, ConfigError, UsageError
from llmops.failpoints import failpoint
from llmops.rag.store import VectorStore, open_store, pipeline_backend, record_backend

if TYPE_CHECKING:
    from llmops.rag.pipeline import Pipeline

__all__ = ["MigrationResult", "migrate"]

EMBEDDED = ("edge", "local")
_BATCH = 1024  # points per fetch/upsert


@dataclass
class MigrationResult:
    """What a migration did."""

    pipeline: str
    source: str
    target: str
    moved: bool  # False: the index was in the target store already
    served: str | None = None  # the collection the alias serves
    versions: list[str] = field(default_factory=list)
    points: int = 0
    dropped_source: bool = False


def _check(pipe: Pipeline, to: str) -> None:
    if to not in EMBEDDED:
        raise UsageError(f"cannot migrate to '{to}'", hint="choose --to edge or --to local")
    if pipe.settings.qdrant.url:
        raise ConfigError(
            f"pipeline '{pipe.name}' is served by the Qdrant server at {pipe.settings.qdrant.url}; "
            "migrate moves indexes between the embedded stores",
            key="qdrant.url",
            hint="unset qdrant.url (and LLMOPS_QDRANT_URL) to migrate the embedded index",
        )
    if pipe.spec.store.backend != "auto":
        line = None
        if pipe.path is not None:
            from llmops.yamlfile import load_yaml

            line = load_yaml(pipe.path).line_of(("store", "backend"))
        raise ConfigError(
            f"store.backend pins pipeline '{pipe.name}' to '{pipe.spec.store.backend}'",
            file=pipe.path,
            line=line,
            key="store.backend",
            hint="remove store.backend (auto) before migrating; migrate records the backend",
        )


def migrate(
    pipe: Pipeline,
    to: str,
    *,
    drop_source: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> MigrationResult:
    """Copy ``pipe``'s retained versions into the ``to`` store and serve from there."""
    from llmops.locks import file_lock

    _check(pipe, to)
    with file_lock(pipe.manifests.root / "build.lock", timeout=1.0, what=f"pipeline '{pipe.name}'"):
        source_name = pipeline_backend(pipe)
        result = MigrationResult(pipeline=pipe.name, source=source_name, target=to, moved=False)
        if source_name == to:
            return result
        source = open_store(pipe.settings, source_name)
        target = open_store(pipe.settings, to)
        result.served = source.alias_target(pipe.spec.alias)
        for manifest in pipe.manifests.versions():
            if not source.exists(manifest.collection):
                continue
            copied = _copy(source, target, manifest.collection, progress or (lambda c, n: None))
            if copied != manifest.chunk_count:
                raise CheckFailedError(
                    f"version {manifest.index_version} holds {copied} points, its manifest "
                    f"lists {manifest.chunk_count}; nothing was switched",
                    hint=f"rebuild it with `llmops index run {pipe.name} --full` first",
                )
            result.versions.append(manifest.index_version)
            result.points += copied
        if result.served is not None:
            target.switch_alias(pipe.spec.alias, result.served)
        failpoint("index.before_migrate_switch")
        record_backend(pipe, to)  # the switch: from here on the pipeline reads ``to``
        result.moved = True
        pipe._store = None
        if drop_source:
            for name in source.collections():
                if name.startswith(f"{pipe.spec.alias}__"):
                    source.drop(name)
            result.dropped_source = True
        return result


def _copy(
    source: VectorStore, target: VectorStore, name: str, progress: Callable[[str, int], None]
) -> int:
    """Copy one collection (a partial copy of an interrupted run is dropped first)."""
    target.drop(name)
    dim = source.dense_dim(name)
    if dim is None:
        raise CheckFailedError(f"collection '{name}' has no dense vector; nothing was switched")
    target.create(name, dim, sparse=source.has_sparse(name))
    ids = sorted(source.ids(name))
    with target.bulk_writes(name):
        for start in range(0, len(ids), _BATCH):
            target.upsert(name, source.fetch(name, ids[start : start + _BATCH]))
            progress(name, min(start + _BATCH, len(ids)))
            if start == 0:
                failpoint("index.mid_migrate")
    copied = target.count(name)
    expected = source.count(name)
    if copied != expected:
        raise CheckFailedError(
            f"copied {copied} of the {expected} points of '{name}'; nothing was switched"
        )
    return copied
