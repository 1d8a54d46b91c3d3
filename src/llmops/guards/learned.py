"""The learned layer of the injection guard: classifiers over MiniLM's vocabulary, cheap per request.

A transformer encode of a 1,000-character text costs ~14 ms on ONNX (2 cores), far over a 5 ms
budget, so the request path never runs the transformer. Instead the MiniLM model is distilled
once per machine into a static table: one vector per word piece (its sentence embedding when
encoded alone, computed with the ONNX backend and cached machine-wide, ~30k rows). Per request the
text is tokenized once (the model's own tokenizer) and three things are read off the token ids:

- ``doc``: the mean of the token vectors (384 numbers) -> a logistic model;
- ``win``: the same model on each 32-token window; the most attack-like window counts (one
  planted sentence in a long document is enough);
- ``lex``: word-piece unigrams and hashed bigrams -> a second, sparse logistic model.

Their logits, the pattern score and the similarity layer's features are fused by a third
logistic model (``fuse``), fitted on out-of-fold scores. Weights: ``_data/guards/
injection_model.json`` + ``injection_lexical.npy``, written by ``python -m llmops.guards.train``.
Cost per 1,000 characters: one tokenization and a few numpy dot products (well under 1 ms).
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    F32 = npt.NDArray[np.float32]

__all__ = [
    "FUSE_FEATURES",
    "N_LEX",
    "LearnedModel",
    "StaticEmbedding",
    "TextVectors",
    "load_model",
    "static_embedding",
]

STATIC_VERSION = 1
WINDOW = 32
MAX_TOKENS = 2048
N_LEX = 1 << 18
FUSE_FEATURES = ("pattern", "lex", "doc", "win", "knn", "sim_attack", "sim_benign")


@dataclass
class TextVectors:
    """What the learned layer reads off one text: pooled vectors, window means, lexical ids."""

    doc: F32  # mean of the token vectors (384)
    windows: F32  # (w, 384): mean per 32-token window, windows overlapping by half
    lex: npt.NDArray[np.int64]  # sorted unique lexical feature ids
    tokens: int


class StaticEmbedding:
    """MiniLM distilled to one vector per word piece, and the model's tokenizer."""

    def __init__(self, table: F32, tokenizer_file: Path) -> None:
        from tokenizers import Tokenizer

        self.table = table
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        # The fast tokenizer is not safe to share across the gateway's worker threads.
        self._lock = threading.Lock()

    def ids(self, text: str) -> npt.NDArray[np.int64]:
        """Return the word-piece ids of ``text`` (no special tokens), at most MAX_TOKENS."""
        import numpy as np

        with self._lock:  # the "fast" batch call skips character offsets (nobody reads them)
            enc = self._tokenizer.encode_batch_fast([text], add_special_tokens=False)[0]
        return np.asarray(enc.ids[:MAX_TOKENS], dtype=np.int64)

    def vectors(self, texts: list[str]) -> TextVectors:
        """Return the pooled vectors of ``texts`` read as one token stream (pieces joined)."""
        import numpy as np

        parts = [self.ids(t) for t in texts if t]
        ids = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        ids = ids[:MAX_TOKENS]
        dim = self.table.shape[1]
        if ids.size == 0:
            zero = np.zeros(dim, dtype=np.float32)
            return TextVectors(zero, zero[None, :], np.zeros(0, dtype=np.int64), 0)
        vecs = self.table[ids]
        n = ids.size
        # Means only: a max over tokens grows with the text's length, and length is what
        # separates the training sources (long jailbreak templates, short requests), not attacks.
        # Sums of 16-token blocks (a reshape, contiguous: far cheaper than a running sum along
        # the rows) give the document mean and every 32-token window (two adjacent blocks).
        half = WINDOW // 2
        m = -(-n // half)
        pad = m * half - n
        if pad:
            vecs = np.concatenate([vecs, np.zeros((pad, dim), dtype=vecs.dtype)])
        blocks = vecs.reshape(m, half, dim).sum(axis=1)
        counts = np.full(m, float(half), dtype=np.float32)
        counts[-1] = half - pad
        doc = blocks.sum(axis=0) / n
        if n > WINDOW:
            windows = (blocks[:-1] + blocks[1:]) / (counts[:-1] + counts[1:])[:, None]
        else:
            windows = doc[None, :]
        return TextVectors(doc.astype(np.float32), windows.astype(np.float32), _lex_ids(ids), n)


def _lex_ids(ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Word-piece unigrams (their id) and bigrams (hashed into the rest of N_LEX)."""
    import numpy as np

    vocab = 32768  # > MiniLM's 30,522 word pieces: unigrams keep their own column
    uni = ids
    bi = (ids[:-1] * 1_000_003 + ids[1:]) % (N_LEX - vocab) + vocab
    return np.unique(np.concatenate([uni, bi]))


# -- the per-machine static table ---------------------------------------------------------------
def _build_table(spec: str, folder: Path) -> None:
    import numpy as np

    from llmops.embeddings import get_embedder, resolve_model_path

    model_path = resolve_model_path(spec.split(":", 1)[1] if ":" in spec else spec)
    vocab = json.loads((model_path / "tokenizer.json").read_text("utf-8"))["model"]["vocab"]
    words = [""] * len(vocab)
    for piece, i in vocab.items():
        words[int(i)] = piece[2:] if piece.startswith("##") else piece
    embedder = get_embedder(spec)
    table = np.zeros((len(words), embedder.dim), dtype=np.float32)
    # Special and unused pieces ([PAD], [unused12], ...) keep a zero vector.
    keep = [i for i, w in enumerate(words) if w and not (w.startswith("[") and w.endswith("]"))]
    for start in range(0, len(keep), 512):
        rows = keep[start : start + 512]
        table[rows] = embedder.encode([words[i] for i in rows], batch_size=256)
    np.save(folder / "table.npy", table.astype(np.float16), allow_pickle=False)
    (folder / "tokenizer.json").write_bytes((model_path / "tokenizer.json").read_bytes())


def _table_key(spec: str) -> str:
    from llmops.embeddings import resolve_model_path

    model = spec.split(":", 1)[1] if ":" in spec else spec
    path = resolve_model_path(model)
    h = hashlib.sha256(f"v{STATIC_VERSION}:{spec}:{path}".encode())
    for name in ("tokenizer.json", "config.json"):
        f = path / name
        if f.is_file():
            h.update(f.read_bytes())
    return f"minilm-static-{h.hexdigest()[:16]}"


@functools.lru_cache(maxsize=2)
def static_embedding(spec: str = "onnx:all-MiniLM-L6-v2") -> StaticEmbedding:
    """Return the static table of ``spec``, distilling it into the machine cache on first use."""
    import numpy as np

    from llmops.machine_cache import cached_dir

    folder = cached_dir("guards", _table_key(spec), functools.partial(_build_table, spec))
    table = np.load(folder / "table.npy", allow_pickle=False).astype(np.float32)
    return StaticEmbedding(table, folder / "tokenizer.json")


# -- the fitted model ----------------------------------------------------------------------------
def _sigmoid(z: float) -> float:
    import math

    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


@dataclass
class LearnedModel:
    """Fitted weights: doc/window model, lexical model, fusion, decision threshold."""

    emb_coef: F32
    emb_bias: float
    lex_coef: F32
    lex_bias: float
    fuse_coef: list[float]
    fuse_bias: float
    threshold: float
    meta: dict[str, Any]

    def logits(self, tv: TextVectors) -> dict[str, float]:
        """Return the doc, window and lexical logits of one text."""
        doc = float(tv.doc @ self.emb_coef) + self.emb_bias
        win = float((tv.windows @ self.emb_coef).max()) + self.emb_bias
        lex = self.lex_bias
        if tv.lex.size:
            lex += float(self.lex_coef[tv.lex].sum()) / float(tv.lex.size) ** 0.5
        return {"doc": doc, "win": win, "lex": lex}

    def fuse(self, feats: dict[str, float]) -> float:
        """Return the fused probability for the FUSE_FEATURES of one text."""
        z = self.fuse_bias + sum(
            w * float(feats[k]) for w, k in zip(self.fuse_coef, FUSE_FEATURES, strict=True)
        )
        return _sigmoid(z)


def _data_dir() -> Any:
    return resources.files("llmops") / "_data" / "guards"


def read_model(meta_text: str, lexical: bytes) -> LearnedModel:
    """Build a model from the JSON document and the lexical weights (``.npy`` bytes)."""
    import io

    import numpy as np

    doc = json.loads(meta_text)
    return LearnedModel(
        emb_coef=np.asarray(doc["emb_coef"], dtype=np.float32),
        emb_bias=float(doc["emb_bias"]),
        lex_coef=np.load(io.BytesIO(lexical), allow_pickle=False).astype(np.float32),
        lex_bias=float(doc["lex_bias"]),
        fuse_coef=[float(x) for x in doc["fuse_coef"]],
        fuse_bias=float(doc["fuse_bias"]),
        threshold=float(doc["threshold"]),
        meta={k: v for k, v in doc.items() if not k.endswith(("_coef", "_bias"))},
    )


@functools.lru_cache(maxsize=1)
def load_model() -> LearnedModel:
    """Return the shipped model (``_data/guards/injection_model.json`` + lexical weights)."""
    folder = _data_dir()
    return read_model(
        (folder / "injection_model.json").read_text(encoding="utf-8"),
        (folder / "injection_lexical.npy").read_bytes(),
    )
