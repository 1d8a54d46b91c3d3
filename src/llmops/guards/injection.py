"""Prompt-injection and jailbreak detection: patterns, a learned layer and similarity, fused.

Layers, cheapest first:

1. ``normalize.variants``: obfuscation undone (case, separators, leetspeak, homoglyphs,
   zero-width and tag characters, base64/hex payloads decoded and re-checked, rot13).
2. ``patterns``: weighted multilingual phrase patterns (en, fr, de, es, it, pt, ru), noisy-OR.
   A pattern score at or above ``strong`` decides alone, unless the shipped model was fitted
   without that floor (``"floor": false``, round 4): then it is one fusion input among others.
3. ``learned``: logistic models over MiniLM distilled to a static word-piece table (document,
   window and lexical views; see ``llmops.guards.learned``), trained on the sources listed in
   ``llmops.guards.sources`` by ``python -m llmops.guards.train``.
4. Similarity: a kNN vote among the shipped training texts (same static vectors).

A fusion model fitted on out-of-fold scores turns the layers' outputs into one calibrated score
in [0, 1]; the decision threshold was chosen on the training folds only. Cost: O(n) in the text
length; no transformer runs on the request path.
"""

from __future__ import annotations

import functools
import math
import re
import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llmops.guards.base import CheckContext, GuardBase, GuardResult, clean_text, timed_result
from llmops.guards.learned import (
    FastView,
    LearnedModel,
    fast_view,
    load_model,
    one_blas_thread,
    static_embedding,
)
from llmops.guards.normalize import compact, variants
from llmops.guards.patterns import cue_hits, pattern_score

__all__ = [
    "INFO",
    "Analysis",
    "Corpus",
    "InjectionGuard",
    "InjectionOptions",
    "analyse",
    "build_corpus",
    "dots",
    "fuse_inputs",
    "injection_features",
    "similarity",
]


class InjectionOptions(BaseModel):
    """Options of the ``prompt_injection`` guard."""

    model_config = ConfigDict(extra="forbid")

    embedding: bool = Field(
        default=True, description="Use the learned and similarity layers (false: patterns only)."
    )
    model: str = Field(
        default="onnx:all-MiniLM-L6-v2",
        description="Embedding model spec the static table is distilled from (once per machine).",
    )
    strong: float = Field(
        default=0.9,
        ge=0.0,
        le=1.0,
        description="Pattern score that decides without the model (if it has the floor).",
    )
    max_chars: int = Field(
        default=200_000, ge=1000, description="Characters scanned by patterns (the rest skipped)."
    )


_SENTENCE = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+|\n+")
_HEAD_CHARS = 6000
_CUE_SENTENCES = 8


_UNCOVERED = re.compile(r"[^\W\d_\u0000-\u052F]")


def _has_uncovered_script(text: str) -> bool:
    """Return True when letters outside Latin, Greek and Cyrillic occur (patterns miss them)."""
    return not text.isascii() and _UNCOVERED.search(text, 0, 20_000) is not None


def _pieces(basis: str, decoded: list[str]) -> list[str]:
    """Return what the learned layer reads: the head of the text, cue sentences past it, payloads."""
    pieces = [basis[:_HEAD_CHARS]]
    if len(basis) > _HEAD_CHARS:
        tail = [s.strip() for s in _SENTENCE.split(basis[_HEAD_CHARS:]) if s.strip()]
        cued = [s[:400] for s in tail if cue_hits([s, compact(s)])]
        pieces += cued[:_CUE_SENTENCES]
    pieces += [d[:2000] for d in decoded[:2]]
    return pieces


@dataclass
class Analysis:
    """The model-independent part of one text's features (patterns, normalised pieces)."""

    pattern: float
    patterns: list[str]
    decoded: int
    uncovered: bool
    pieces: list[str]


def analyse(text: str, options: InjectionOptions | None = None) -> Analysis:
    """Normalise ``text``, run the patterns and pick the pieces the learned layer reads."""
    options = options or InjectionOptions()
    text = clean_text(text)[: options.max_chars]
    v = variants(text)
    p, names = pattern_score(v.pattern_views())
    basis = v.plain
    if v.folded != v.plain and cue_hits([v.folded]) > cue_hits([v.plain]):
        basis = v.folded
    if v.rot13_likely():
        basis = v.rot13
    return Analysis(
        p, names, len(v.decoded), _has_uncovered_script(text), _pieces(basis, v.decoded)
    )


@dataclass
class Corpus:
    """The similarity layer's reference texts: normalised mean vectors, labels, sources."""

    vectors: Any
    attack: Any
    sources: list[str]


@functools.lru_cache(maxsize=2)
def _corpus(model: str) -> Corpus:
    from llmops.guards.sources import SOURCES, load_shipped

    rows = [r for r in load_shipped() if SOURCES[r.source].use == "train"]
    return build_corpus([r.text for r in rows], [r.label == "attack" for r in rows],
                        [r.source for r in rows], model)  # fmt: skip


def build_corpus(texts: list[str], attack: list[bool], sources: list[str], model: str) -> Corpus:
    """Embed reference texts for the similarity layer (static vectors, pieces as at run time)."""
    import numpy as np

    static = static_embedding(model)
    means = np.stack([_unit(static.vectors(analyse(t).pieces).doc[:384]) for t in texts])
    return Corpus(means.astype(np.float32), np.asarray(attack, dtype=bool), list(sources))


def _unit(v: Any) -> Any:
    import numpy as np

    return v / max(float(np.linalg.norm(v)), 1e-12)


_K = 7
_BLOCK = 1024


def dots(vecs: Any, queries: Any) -> Any:
    """Return ``vecs @ row`` for every row of ``queries``, as a (queries, rows) float32 array.

    Matrix-vector products, not one matrix product (OpenBLAS's gemm of this shape cost 2-7 ms
    on 2 busy cores), on one thread (its gemv is threaded too), and block by block: a block of
    1,024 rows (1.5 MB) is read from memory once for all queries. Each output is its own dot
    product and blocks start at multiples of 1,024 rows: the same bits as whole products.
    """
    import numpy as np

    out = np.empty((queries.shape[0], vecs.shape[0]), dtype=np.float32)
    with one_blas_thread():
        for start in range(0, vecs.shape[0], _BLOCK):
            block = vecs[start : start + _BLOCK]
            for j, row in enumerate(queries):
                np.matmul(block, row, out=out[j, start : start + block.shape[0]])
    return out


def similarity(queries: Any, corpus: Corpus, mask: Any = None) -> dict[str, float]:
    """Return the kNN attack vote and nearest similarities of the more attack-like query.

    ``queries`` holds the text's mean vector and its most attack-like window. ``mask`` (bool
    per corpus row) keeps only some rows: training leaves a text's own source out.
    """
    import numpy as np

    vecs, att = corpus.vectors, corpus.attack
    if mask is not None:
        vecs, att = vecs[mask], att[mask]
    if vecs.shape[0] == 0:
        return {"knn": 0.0, "sim_attack": 0.0, "sim_benign": 0.0}
    q = np.array(queries, dtype=np.float32)
    q /= np.clip(np.linalg.norm(q, axis=1, keepdims=True), 1e-12, None)
    sims = dots(vecs, q)
    np.putmask(sims, sims > 0.9999, -1.0)  # the text itself (training) is no evidence
    k = min(_K, sims.shape[1])
    idx = np.argpartition(sims, -k, axis=1)[:, -k:]
    top = np.take_along_axis(sims, idx, axis=1)
    weights = np.maximum(top, 0.0)
    votes = (weights * att[idx]).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    best = int(np.argmax(votes))
    row = sims[best]
    return {
        "knn": float(votes[best]),
        "sim_attack": float(row[att].max()) if att.any() else 0.0,
        "sim_benign": float(row[~att].max()) if not att.all() else 0.0,
    }


def fuse_inputs(
    an: Analysis, view: FastView, sims: dict[str, float], patsig: bool = False
) -> dict[str, float]:
    """Return the fusion's inputs (FUSE_FEATURES) for one text."""
    npat = round(math.log1p(len(an.patterns)), 4) if patsig else 0.0
    return {"pattern": an.pattern, **view.logits, **sims, "n_patterns": npat}


def injection_features(
    text: str, options: InjectionOptions | None = None, *, model: LearnedModel | None = None
) -> dict[str, Any]:
    """Return every layer's output for ``text`` and the one calibrated score (``model``: the
    shipped one unless given)."""
    options = options or InjectionOptions()
    an = analyse(text, options)
    feats: dict[str, Any] = {
        "pattern": an.pattern,
        "patterns": an.patterns,
        "decoded": an.decoded,
        "uncovered_script": an.uncovered,
        "learned": False,
    }
    model = model or load_model()
    floor = model.meta.get("floor", True)  # False: the pattern score is only a fusion input
    if (floor and an.pattern >= options.strong) or not options.embedding:
        # Decisive patterns (or patterns only by configuration): the pattern score stands.
        feats["score"] = an.pattern
        return feats
    view = fast_view(static_embedding(options.model), model, an.pieces)
    if model.meta.get("knn", True):
        sims = similarity(view.queries, _corpus(options.model))
    else:  # fitted without the similarity layer (its fusion inputs were zero in training)
        sims = dict.fromkeys(("knn", "sim_attack", "sim_benign"), 0.0)
    inputs = fuse_inputs(an, view, sims, bool(model.meta.get("patsig", False)))
    feats.update({k: round(v, 4) for k, v in inputs.items() if k != "pattern"})
    feats["learned"] = True
    feats["tokens"] = view.tokens
    feats["score"] = model.fuse(inputs)
    return feats


class InjectionGuard(GuardBase[InjectionOptions]):
    """Score text for prompt injection / jailbreak; fail at or above the threshold."""

    stages = ("input", "contexts")
    summary = "Prompt injection and jailbreaks: normalisation, multilingual patterns, similarity."
    fixable = False

    threshold: float

    def __init__(self, name: str, threshold: float | None, options: InjectionOptions) -> None:
        if threshold is None:  # patterns only: a decisive pattern score must still fail
            threshold = load_model().threshold
            threshold = threshold if options.embedding else min(threshold, options.strong)
        super().__init__(name, threshold, options)

    def warm(self) -> None:
        """Distil/load the static table and embed the similarity corpus now, not on a request."""
        if self.options.embedding and load_model().meta.get("knn", True):
            _corpus(self.options.model)
        # Builds the rest once too: the literal automaton, the BLAS thread controls (~0.5 s).
        injection_features("Warm up: ignore nothing.", self.options)

    def check(self, text: str, ctx: CheckContext) -> GuardResult:
        """Return the calibrated score and the layer features as details."""
        start = time.perf_counter()
        feats = injection_features(text, self.options)
        score = float(feats.pop("score"))
        return timed_result(
            self.name,
            start,
            passed=score < self.threshold,
            score=round(score, 4),
            details=feats | {"threshold": self.threshold},
        )


INFO = InjectionGuard.info("prompt_injection")
