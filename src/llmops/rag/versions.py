"""Index versions of one pipeline: garbage collection past ``retention``, and rollback.

Both run under the pipeline's build lock (a build collects garbage itself once it switched).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmops.errors import CheckFailedError, NotFoundError, StateError
from llmops.rag.manifest import Manifest

if TYPE_CHECKING:
    from llmops.rag.pipeline import Pipeline

__all__ = ["collect_garbage", "rollback"]


def collect_garbage(pipe: Pipeline) -> list[str]:
    """Drop versions past ``retention`` and leftovers of abandoned builds; return them."""
    store = pipe.store()
    prefix = f"{pipe.spec.alias}__"
    served = store.alias_target(pipe.spec.alias)
    manifests = {m.collection: m for m in pipe.manifests.versions()}
    ours = [c for c in store.collections() if c.startswith(prefix)]
    # newest first; collections without a manifest are abandoned partial builds
    ranked = sorted(
        (c for c in ours if c in manifests and c != served),
        key=lambda c: manifests[c].created_at,
        reverse=True,
    )
    keep = set(ranked[: max(0, pipe.spec.store.retention - 1)])
    if served:
        keep.add(served)
    dropped = []
    for name in ours:
        if name not in keep:
            store.drop(name)
            dropped.append(name)
    for collection, manifest in manifests.items():
        if collection not in keep:
            pipe.manifests.delete(manifest.index_version)
    return dropped


def rollback(pipe: Pipeline, to: str | None = None) -> tuple[str | None, str]:
    """Point the alias at an older retained version; return (previous, new) versions."""
    store = pipe.store()
    served = pipe.served()
    current = served.index_version if served else None
    candidates = {
        m.index_version: m
        for m in pipe.manifests.versions()
        if store.exists(m.collection) and m.index_version != current
    }
    target = _latest(pipe, candidates) if to is None else _matching(pipe, to, current, candidates)
    manifest = candidates[target]
    stored = store.count(manifest.collection)
    if stored != manifest.chunk_count:
        raise CheckFailedError(
            f"version {target} holds {stored} points, its manifest lists "
            f"{manifest.chunk_count}; not switching"
        )
    store.switch_alias(pipe.spec.alias, manifest.collection)
    pipe.manifests.record_switch(target, "rollback")
    return current, target


def _latest(pipe: Pipeline, candidates: dict[str, Manifest]) -> str:
    """The version served before the current one, else the newest retained one."""
    target = next(
        (
            e["version"]
            for e in reversed(pipe.manifests.history())
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
            f"pipeline '{pipe.name}' has no older version to roll back to",
            hint=f"versions are kept by store.retention ({pipe.spec.store.retention})",
        )
    return str(target)


def _matching(pipe: Pipeline, to: str, current: str | None, candidates: dict[str, Manifest]) -> str:
    matches = [v for v in candidates if v.startswith(to)]
    if to == current:
        raise StateError(f"version {to} is already served")
    if len(matches) != 1:
        raise NotFoundError(
            f"no retained version '{to}' of pipeline '{pipe.name}'",
            hint=f"retained: {', '.join(sorted(candidates)) or 'none'}",
        )
    return matches[0]
