"""Prompt-injection and jailbreak detection: patterns over normalised views, then embeddings.

Layers, cheapest first:

1. ``normalize.variants``: obfuscation undone (case, separators, leetspeak, homoglyphs,
   zero-width and tag characters, base64/hex payloads decoded and re-checked, rot13).
2. ``patterns``: weighted multilingual phrase patterns (en, fr, de, es, it, pt, ru), noisy-OR.
3. Similarity to a corpus of known attacks and benign look-alikes written for llmops, embedded
   with the local MiniLM model. It runs only when the pattern layer found some evidence but is
   not decisive, or the text has decoded payloads or letters of a script the patterns do not
   cover. Cue words pick which sentences of a long text are embedded.

A logistic model fitted on the training split (``_data/guards/injection_calibration.json``) turns
(pattern score, attack similarity, benign similarity) into one calibrated score in [0, 1].
Cost: O(n) in the text length for layers 1-2; layer 3 embeds at most ``max_windows`` windows.
"""

from __future__ import annotations

import functools
import json
import math
import re
import threading
import time
from collections import OrderedDict
from importlib import resources
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from llmops.guards.base import CheckContext, GuardResult, clean_text
from llmops.guards.normalize import compact, variants
from llmops.guards.patterns import cue_hits, pattern_score
from llmops.guards.registry import GuardInfo

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["INFO", "InjectionGuard", "InjectionOptions", "injection_features"]


class InjectionOptions(BaseModel):
    """Options of the ``prompt_injection`` guard."""

    model_config = ConfigDict(extra="forbid")

    embedding: bool = Field(default=True, description="Use the similarity layer when unsure.")
    model: str = Field(default="all-MiniLM-L6-v2", description="Embedding model spec.")
    strong: float = Field(
        default=0.9, ge=0.0, le=1.0, description="Pattern score that decides without embeddings."
    )
    max_windows: int = Field(default=4, ge=1, le=64, description="Pieces embedded per text.")
    window_chars: int = Field(default=400, ge=50, le=4000, description="Longest piece embedded.")
    short_chars: int = Field(
        default=300, ge=0, le=4000, description="Texts up to this length are embedded whole."
    )
    max_chars: int = Field(
        default=200_000, ge=1000, description="Characters scanned by patterns (the rest skipped)."
    )


@functools.lru_cache(maxsize=1)
def _calibration() -> dict[str, Any]:
    path = resources.files("llmops") / "_data" / "guards" / "injection_calibration.json"
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return {"coef": [8.0, 6.0, 2.0, -2.0], "intercept": -6.0, "threshold": 0.5}


@functools.lru_cache(maxsize=4)
def _corpus(model: str) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    import numpy as np

    from llmops.embeddings import get_embedder

    path = resources.files("llmops") / "_data" / "guards" / "injection_corpus.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    attacks = [r["text"] for r in rows if r["label"] == "attack"]
    benign = [r["text"] for r in rows if r["label"] == "benign"]
    embedder = get_embedder(model)
    att = embedder.encode(attacks, batch_size=64)
    ben = embedder.encode(benign, batch_size=64)
    return np.ascontiguousarray(att), np.ascontiguousarray(ben)


def _top_mean(sims: npt.NDArray[np.float32], k: int = 3) -> float:
    import numpy as np

    if sims.shape[-1] == 0:
        return 0.0
    k = min(k, sims.shape[-1])
    top = np.partition(sims, -k, axis=-1)[..., -k:]
    return float(top.mean(axis=-1).max())


def _has_uncovered_script(text: str) -> bool:
    """Return True when letters outside Latin, Greek and Cyrillic occur (patterns miss them)."""
    return any(ch.isalpha() and ord(ch) > 0x052F for ch in text[:20_000])


_SENTENCE = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+|\n+")


def _segments(text: str, options: InjectionOptions) -> list[str]:
    """Return the pieces worth embedding: the whole text when short, else its cue sentences."""
    if len(text) <= options.short_chars:
        return [text]
    scored: list[tuple[int, int, str]] = []
    for i, sentence in enumerate(_SENTENCE.split(text)):
        sentence = sentence.strip()
        if not sentence:
            continue
        hits = cue_hits([sentence, compact(sentence)])
        if hits:
            scored.append((hits, i, sentence[: options.window_chars]))
    if not scored:
        return [text[: options.window_chars]]
    best = sorted(scored, key=lambda t: (-t[0], t[1]))[: options.max_windows]
    return [s for _, _, s in sorted(best, key=lambda t: t[1])]


def injection_features(
    text: str,
    options: InjectionOptions | None = None,
    *,
    embed: bool | None = None,
    leave_one_out: bool = False,
) -> dict[str, Any]:
    """Return the layers' raw features for ``text`` (used by the guard and by calibration).

    ``leave_one_out`` ignores corpus entries identical to the text, for fitting on the corpus.
    """
    options = options or InjectionOptions()
    text = clean_text(text)[: options.max_chars]
    v = variants(text)
    views = v.pattern_views()
    p, names = pattern_score(views)
    cues = cue_hits([v.plain, v.compact, v.folded, *v.decoded])
    uncovered = _has_uncovered_script(text)
    # The embedding settles what the patterns left uncertain: some evidence below ``strong``,
    # decoded payloads, or a script the patterns cannot read. Text with no pattern evidence
    # at all is not embedded (that keeps ordinary traffic at pattern-layer cost).
    want = p < options.strong and (p > 0 or uncovered or bool(v.decoded))
    if embed is not None:
        want = embed
    feats: dict[str, Any] = {
        "pattern": p,
        "patterns": names,
        "cues": cues,
        "decoded": len(v.decoded),
        "uncovered_script": uncovered,
        "embedded": False,
        "sim_attack": 0.0,
        "sim_benign": 0.0,
        "knn": 0.0,
    }
    if not (want and options.embedding):
        return feats
    basis = v.folded if cue_hits([v.folded]) > cue_hits([v.plain]) else v.plain
    if v.rot13_likely():
        basis = v.rot13
    texts = _segments(basis, options)
    texts += [d[: options.window_chars] for d in v.decoded[:2]]
    feats.update(_similarity(texts, options.model, leave_one_out=leave_one_out))
    feats["embedded"] = True
    return feats


_EMBED_CACHE: OrderedDict[tuple[str, str], Any] = OrderedDict()
_EMBED_CACHE_SIZE = 2048
# The gateway checks requests in worker threads: the LRU's reads and writes must not interleave.
_EMBED_LOCK = threading.Lock()


def _embed(texts: list[str], model: str) -> npt.NDArray[np.float32]:
    import numpy as np

    from llmops.embeddings import get_embedder

    with _EMBED_LOCK:
        found = {t: _EMBED_CACHE[(model, t)] for t in texts if (model, t) in _EMBED_CACHE}
    missing = [t for t in dict.fromkeys(texts) if t not in found]
    if missing:
        vecs = get_embedder(model).encode(missing, batch_size=16)
        found.update(zip(missing, vecs, strict=True))
    with _EMBED_LOCK:
        for t in dict.fromkeys(texts):
            _EMBED_CACHE[(model, t)] = found[t]
            _EMBED_CACHE.move_to_end((model, t))
        while len(_EMBED_CACHE) > _EMBED_CACHE_SIZE:
            _EMBED_CACHE.popitem(last=False)
    return np.stack([found[t] for t in texts])


def _similarity(texts: list[str], model: str, *, leave_one_out: bool = False) -> dict[str, float]:
    import numpy as np

    att, ben = _corpus(model)
    q = _embed(texts, model)
    sa = q @ att.T
    sb = q @ ben.T
    if leave_one_out:
        sa[sa > 0.995] = -1.0
        sb[sb > 0.995] = -1.0
    # Per piece: a similarity-weighted vote of the k nearest corpus texts; the most attack-like
    # piece decides (one injected sentence in a long document is enough).
    best: dict[str, float] = {"knn": -1.0, "sim_attack": 0.0, "sim_benign": 0.0}
    for i in range(q.shape[0]):
        sims = np.concatenate([sa[i], sb[i]])
        k = min(_K, sims.shape[0])
        idx = np.argpartition(sims, -k)[-k:]
        weights = np.clip(sims[idx], 0.0, None)
        total = float(weights.sum()) or 1.0
        knn = float(weights[idx < sa.shape[1]].sum()) / total
        if knn > best["knn"]:
            best = {
                "knn": knn,
                "sim_attack": float(sa[i].max()) if sa.shape[1] else 0.0,
                "sim_benign": float(sb[i].max()) if sb.shape[1] else 0.0,
            }
    return best


_K = 7


def _feature_vector(feats: dict[str, Any]) -> list[float]:
    """Return the calibration inputs: pattern score, kNN attack vote, nearest similarities."""
    return [
        float(feats["pattern"]),
        float(feats["knn"]),
        float(feats["sim_attack"]),
        float(feats["sim_benign"]),
    ]


def calibrated_score(feats: dict[str, Any], options: InjectionOptions | None = None) -> float:
    """Return the one calibrated injection score for ``injection_features`` output."""
    options = options or InjectionOptions()
    p = float(feats["pattern"])
    if not feats["embedded"]:
        # Decisive patterns or nothing worth a closer look: the pattern score stands.
        return p
    cal = _calibration()
    w = cal["coef"]
    x = _feature_vector(feats)
    z = cal["intercept"] + sum(wi * xi for wi, xi in zip(w, x, strict=True))
    return 1.0 / (1.0 + math.exp(-z))


class InjectionGuard:
    """Score text for prompt injection / jailbreak; fail at or above the threshold."""

    def __init__(self, name: str, threshold: float | None, options: InjectionOptions) -> None:
        self.name = name
        self.options = options
        self.threshold = threshold if threshold is not None else float(_calibration()["threshold"])

    def warm(self) -> None:
        """Load the model and embed the corpus now rather than on the first request."""
        if self.options.embedding:
            _corpus(self.options.model)

    def check(self, text: str, ctx: CheckContext) -> GuardResult:
        """Return the calibrated score and the layer features as details."""
        start = time.perf_counter()
        feats = injection_features(text, self.options)
        score = calibrated_score(feats, self.options)
        return GuardResult(
            name=self.name,
            passed=score < self.threshold,
            score=round(score, 4),
            latency_ms=(time.perf_counter() - start) * 1000,
            details={
                k: feats[k]
                for k in (
                    "pattern",
                    "patterns",
                    "embedded",
                    "knn",
                    "sim_attack",
                    "sim_benign",
                    "decoded",
                )
            }
            | {"threshold": self.threshold},
        )


def _factory(
    name: str, threshold: float | None, options: InjectionOptions, **_: Any
) -> InjectionGuard:
    return InjectionGuard(name, threshold, options)


INFO = GuardInfo(
    name="prompt_injection",
    stages=("input", "contexts"),
    options_model=InjectionOptions,
    factory=_factory,
    summary="Prompt injection and jailbreaks: normalisation, multilingual patterns, similarity.",
    fixable=False,
)
