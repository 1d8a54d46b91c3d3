"""Out-of-coverage queries: is the nearest chunk farther than the corpus's own neighbours?

For an index version, each (sampled) chunk's nearest chunk from another document gives the
corpus's own nearest-neighbour distance; its 95th percentile ``d95`` is the threshold. A query
whose top-1 retrieval score (cosine) is below ``1 - d95`` is farther from the corpus than 95 % of
the corpus is from itself: the index probably does not cover it. The threshold is computed once
per index version (by the process that owns the vector store: the gateway, a re-index action, or
``llmops monitor coverage``) and kept under ``<state>/monitor/coverage/``; the trace enricher
flags queries as they are written.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.atomic import atomic_write_json

if TYPE_CHECKING:
    from llmops.config import Settings

__all__ = ["CoverageCache", "compute_coverage", "coverage_path"]

log = logging.getLogger("llmops.monitor")
_SAMPLE = 2000
_RETRY_S = 60.0


def coverage_path(settings: Settings, pipeline: str, version: str) -> Path:
    """Return where the threshold of ``pipeline``'s ``version`` is kept."""
    return settings.state_path / "monitor" / "coverage" / pipeline / f"{version}.json"


def compute_coverage(
    settings: Settings, pipeline: str, version: str | None = None
) -> dict[str, Any]:
    """Compute and store the threshold of ``version`` (default: the served one); return it."""
    import numpy as np

    from llmops.monitor.drift import one_blas_thread
    from llmops.rag import Pipeline

    pipe = Pipeline.from_name(pipeline, settings)
    store = pipe.store()
    if version is None:
        served = pipe.served()
        if served is None:
            from llmops.rag.manifest import not_served

            raise not_served(pipeline)
        version = served.index_version
    collection = pipe.collection_name(version)
    vectors: list[Any] = []
    docs: list[str] = []
    ids = sorted(store.ids(collection))  # sorted: the sample below is seeded
    for start in range(0, len(ids), 2048):
        for p in store.fetch(collection, ids[start : start + 2048]):
            vectors.append(p.dense)
            docs.append(str(p.payload.get("source") or p.payload.get("doc_id") or ""))
    if len(vectors) < 2:
        raise ValueError(f"index {pipeline}@{version} has fewer than 2 chunks")
    x = np.asarray(vectors, dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True).clip(min=1e-12)
    rng = np.random.default_rng(0)
    picked = rng.choice(len(x), size=min(_SAMPLE, len(x)), replace=False)
    doc_ids = np.asarray(docs)
    nearest = np.empty(len(picked), dtype=np.float32)
    with one_blas_thread():
        for start in range(0, len(picked), 256):
            rows = picked[start : start + 256]
            sims = x[rows] @ x.T
            same = doc_ids[rows][:, None] == doc_ids[None, :]
            if np.all(same):  # a one-document corpus: its other chunks are the neighbours
                same = np.zeros_like(same)
            sims[same] = -np.inf
            sims[np.arange(len(rows)), rows] = -np.inf
            nearest[start : start + len(rows)] = sims.max(axis=1)
    finite = nearest[np.isfinite(nearest)]
    d95 = float(np.percentile(1.0 - finite, 95)) if finite.size else 1.0
    result = {
        "pipeline": pipeline,
        "index_version": version,
        "threshold": round(1.0 - d95, 6),
        "d95": round(d95, 6),
        "chunks": len(x),
        "sampled": len(picked),
        "computed_at": time.time(),
        "method": "cosine distance to the nearest chunk of another document, 95th percentile",
    }
    atomic_write_json(coverage_path(settings, pipeline, version), result)
    return result


class CoverageCache:
    """Thresholds by (pipeline, version); missing ones are computed on a background thread."""

    def __init__(self, settings: Settings, *, compute: bool = True) -> None:
        self.settings = settings
        self.compute = compute
        self._known: dict[tuple[str, str], float | None] = {}
        self._tried: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._busy = False

    def lookup(self, pipeline: str, version: str) -> float | None:
        """Return the threshold, or None while it is unknown (a computation may start)."""
        key = (pipeline, version)
        found = self._known.get(key)
        if found is not None:
            return found
        path = coverage_path(self.settings, pipeline, version)
        if path.is_file():
            try:
                value = float(json.loads(path.read_text(encoding="utf-8"))["threshold"])
            except (OSError, ValueError, KeyError):
                value = None
            if value is not None:
                self._known[key] = value
                return value
        if self.compute:
            self._start(key)
        return None

    def _start(self, key: tuple[str, str]) -> None:
        now = time.monotonic()
        with self._lock:
            if self._busy or now - self._tried.get(key, -_RETRY_S) < _RETRY_S:
                return
            self._busy = True
            self._tried[key] = now
        threading.Thread(target=self._run, args=key, name="llmops-coverage", daemon=True).start()

    def _run(self, pipeline: str, version: str) -> None:
        try:
            compute_coverage(self.settings, pipeline, version)
        except Exception as exc:  # noqa: BLE001 - unknown coverage is reported, never fatal
            log.info("coverage threshold of %s@%s not computed: %s", pipeline, version, exc)
        finally:
            with self._lock:
                self._busy = False
