"""The learned layer of the injection guard: classifiers over MiniLM's vocabulary, cheap per request.

A transformer encode of a 1,000-character text costs 58 ms p50 on ONNX (2 threads, quiet; 29 ms
at 128 word pieces; docs/guardrails.md, round 5), far over a 2 ms budget, so the request path
never runs the transformer. Instead the MiniLM model is distilled
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

import contextlib
import functools
import hashlib
import json
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from itertools import chain
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
    "FastView",
    "TextVectors",
    "fast_view",
    "load_model",
    "one_blas_thread",
    "static_embedding",
]

STATIC_VERSION = 1
WINDOW = 32
MAX_TOKENS = 2048
N_LEX = 1 << 18
WORD_CACHE = 200_000
FUSE_FEATURES = (
    "pattern", "lex", "doc", "win", "knn", "sim_attack", "sim_benign", "chr", "n_patterns",
)  # fmt: skip


@dataclass
class TextVectors:
    """What the learned layer reads off one text: pooled vectors, window means, lexical ids."""

    doc: F32  # mean of the token vectors (384)
    windows: F32  # (w, 384): mean per 32-token window, windows overlapping by half
    lex: npt.NDArray[np.int64]  # sorted unique lexical feature ids
    tokens: int
    chars: npt.NDArray[np.int64] | None = None  # hashed character n-gram ids (``chars``)


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
        # Word -> word-piece ids. BERT's pre-tokenizer splits on whitespace before anything
        # else, so tokenizing word by word gives the same ids as the whole text; most words
        # of a new text have been seen before, and a dict lookup costs far less than the
        # tokenizer. Bounded: cleared when full (a flood of random words costs what the
        # tokenizer costs, no more).
        self._words: dict[str, list[int]] = {}

    def _encode(self, words: list[str]) -> list[list[int]]:
        with self._lock:  # the "fast" batch call skips character offsets (nobody reads them)
            encs = self._tokenizer.encode_batch_fast(words, add_special_tokens=False)
        return [e.ids for e in encs]

    def ids(self, texts: list[str]) -> npt.NDArray[np.int64]:
        """Return the word-piece ids of ``texts`` read as one stream (no special tokens)."""
        import numpy as np

        cache = self._words
        out: list[int] = []
        for text in texts:
            words = text.split()
            start = len(out)
            missing = [w for w in dict.fromkeys(words) if w not in cache]
            if missing:
                if len(cache) + len(missing) > WORD_CACHE:
                    cache.clear()
                cache.update(zip(missing, self._encode(missing), strict=True))
            try:
                out.extend(chain.from_iterable(map(cache.__getitem__, words)))
            except KeyError:  # another thread cleared the cache meanwhile: word by word
                del out[start:]
                for w in words:
                    piece = cache.get(w)
                    out.extend(self._encode([w])[0] if piece is None else piece)
            if len(out) >= MAX_TOKENS:
                break
        return np.asarray(out[:MAX_TOKENS], dtype=np.int64)

    def vectors(self, texts: list[str]) -> TextVectors:
        """Return the pooled vectors of ``texts`` read as one token stream (training's view)."""
        import numpy as np

        from llmops.guards.chars import char_ids

        ids = self.ids([t for t in texts if t])
        dim = self.table.shape[1]
        chars = char_ids(texts)
        if ids.size == 0:
            zero = np.zeros(dim, dtype=np.float32)
            return TextVectors(zero, zero[None, :], np.zeros(0, dtype=np.int64), 0, chars)
        vecs = self.table[ids]
        n = ids.size
        # Means only: a max over tokens grows with the text's length, and length is what
        # separates the training sources (long jailbreak templates, short requests), not attacks.
        # Sums of 16-token blocks give the document mean and every 32-token window (two
        # adjacent blocks).
        blocks, counts = _block_sums(vecs)
        doc = blocks.sum(axis=0) / n
        if n > WINDOW:
            windows = (blocks[:-1] + blocks[1:]) / (counts[:-1] + counts[1:])[:, None]
        else:
            windows = doc[None, :]
        return TextVectors(
            doc.astype(np.float32), windows.astype(np.float32), _lex_ids(ids), n, chars
        )


def _block_sums(vecs: Any) -> tuple[Any, Any]:
    """Return sums of consecutive 16-row blocks of ``vecs`` (1-d or 2-d) and the rows in each."""
    import numpy as np

    half = WINDOW // 2
    n = vecs.shape[0]
    m = -(-n // half)
    pad = m * half - n
    if pad:
        vecs = np.concatenate([vecs, np.zeros((pad, *vecs.shape[1:]), dtype=vecs.dtype)])
    blocks = vecs.reshape(m, half, *vecs.shape[1:]).sum(axis=1)
    counts = np.full(m, float(half), dtype=np.float32)
    counts[-1] = half - pad
    return blocks, counts


@dataclass
class FastView:
    """What the request path reads off one text: the three logits and two query vectors."""

    logits: dict[str, float]
    queries: F32  # (2, 384): the document mean and the most attack-like window
    tokens: int


def fast_view(static: StaticEmbedding, model: LearnedModel, pieces: list[str]) -> FastView:
    """Return the learned layer's view of ``pieces`` without building every window's vector.

    The doc/window model is linear, so its logit on any window is the window's mean of a
    per-piece score (``table @ coef``, computed once): windows cost a few additions, and only
    the winning window's vector is built. Equal to ``model.logits(static.vectors(pieces))``
    (tested).
    """
    import numpy as np

    from llmops.guards.chars import char_ids

    ids = static.ids([p for p in pieces if p])
    n = int(ids.size)
    chr_logit = model.chr_logit(char_ids(pieces) if model.chr_coef is not None else None)
    if n == 0:
        zero = np.zeros((2, static.table.shape[1]), dtype=np.float32)
        lex0 = model.lex_bias
        logits = {"doc": model.emb_bias, "win": model.emb_bias, "lex": lex0, "chr": chr_logit}
        return FastView(logits, zero, 0)
    per_piece = model.piece_scores(static.table)[ids]
    blocks, counts = _block_sums(per_piece)
    doc = float(blocks.sum()) / n + model.emb_bias
    if n > WINDOW:
        wins = (blocks[:-1] + blocks[1:]) / (counts[:-1] + counts[1:])
        best = int(np.argmax(wins))
        win = float(wins[best]) + model.emb_bias
        half = WINDOW // 2
        wvec = static.table[ids[best * half : best * half + WINDOW]].mean(axis=0)
    else:
        win, wvec = doc, None
    dvec = static.table[ids].mean(axis=0)
    queries = np.vstack([dvec, dvec if wvec is None else wvec]).astype(np.float32)
    logits = {"doc": doc, "win": win, "lex": model.lex_logit(_lex_ids(ids)), "chr": chr_logit}
    return FastView(logits, queries, n)


def _lex_ids(ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Word-piece unigrams (their id) and bigrams (hashed into the rest of N_LEX)."""
    import numpy as np

    from llmops.guards.chars import sorted_unique

    vocab = 32768  # > MiniLM's 30,522 word pieces: unigrams keep their own column
    uni = ids
    bi = (ids[:-1] * 1_000_003 + ids[1:]) % (N_LEX - vocab) + vocab
    return sorted_unique(np.concatenate([uni, bi]))  # ids < N_LEX = 2^18


@functools.lru_cache(maxsize=1)
def _blas_libraries() -> tuple[Any, ...]:
    from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

    return tuple(ThreadpoolController().select(user_api="blas").lib_controllers)


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with BLAS on the calling thread only.

    OpenBLAS (0.3.31 here) splits even a (2,092 x 384) matrix-vector product over its threads;
    on a busy 2-core machine the hand-off cost the calling thread ~0.5 ms of CPU (spinning) for
    ~0.1 ms of work, and the result's last bits depended on the thread count (so on the
    machine). One thread: the same bits on every machine, at the cost of the work alone.
    """
    libs = [(lib, lib.get_num_threads()) for lib in _blas_libraries()]
    for lib, n in libs:
        if n != 1:
            lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in libs:
            if n != 1:
                lib.set_num_threads(n)


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
    chr_coef: F32 | None = None  # the character n-gram model (None: not fitted, logit 0)
    chr_bias: float = 0.0
    _scores: dict[int, Any] = field(default_factory=dict, repr=False, compare=False)

    def logits(self, tv: TextVectors) -> dict[str, float]:
        """Return the doc, window and lexical logits of one text."""
        doc = float(tv.doc @ self.emb_coef) + self.emb_bias
        win = float((tv.windows @ self.emb_coef).max()) + self.emb_bias
        return {
            "doc": doc,
            "win": win,
            "lex": self.lex_logit(tv.lex),
            "chr": self.chr_logit(tv.chars),
        }

    def lex_logit(self, lex: npt.NDArray[np.int64]) -> float:
        """Return the lexical model's logit for sorted unique feature ids."""
        return _sparse_logit(self.lex_coef, self.lex_bias, lex)

    def chr_logit(self, ids: npt.NDArray[np.int64] | None) -> float:
        """Return the character n-gram model's logit (0 when the model has none)."""
        if self.chr_coef is None or ids is None:
            return 0.0
        return _sparse_logit(self.chr_coef, self.chr_bias, ids)

    def piece_scores(self, table: F32) -> F32:
        """Return ``table @ emb_coef``: each word piece's share of the doc/window logit."""
        key = id(table)
        got = self._scores.get(key)
        if got is None:
            got = self._scores[key] = (table @ self.emb_coef).astype(table.dtype)
        return got

    def fuse(self, feats: dict[str, float]) -> float:
        """Return the fused probability for the FUSE_FEATURES of one text."""
        z = self.fuse_bias + sum(
            w * float(feats[k]) for w, k in zip(self.fuse_coef, FUSE_FEATURES, strict=True)
        )
        return _sigmoid(z)


def _sparse_logit(coef: F32, bias: float, ids: npt.NDArray[np.int64]) -> float:
    if not ids.size:
        return bias
    return bias + float(coef[ids].sum()) / math.sqrt(ids.size)


def _data_dir() -> Any:
    return resources.files("llmops") / "_data" / "guards"


def read_model(meta_text: str, lexical: bytes, chars: bytes | None = None) -> LearnedModel:
    """Build a model from the JSON document and the lexical (and character) ``.npy`` weights."""
    import io

    import numpy as np

    doc = json.loads(meta_text)
    # A model fitted before a feature existed fuses without it: its weight is 0.
    names = list(doc.get("features", FUSE_FEATURES))
    unknown = sorted(set(names) - set(FUSE_FEATURES))
    if unknown:
        raise ValueError(
            f"injection model fuses unknown features {unknown}: refit it with "
            "python -m llmops.guards.train fit"
        )
    weights = dict(zip(names, doc["fuse_coef"], strict=True))
    doc["fuse_coef"] = [weights.get(k, 0.0) for k in FUSE_FEATURES]
    return LearnedModel(
        emb_coef=np.asarray(doc["emb_coef"], dtype=np.float32),
        emb_bias=float(doc["emb_bias"]),
        lex_coef=np.load(io.BytesIO(lexical), allow_pickle=False).astype(np.float32),
        lex_bias=float(doc["lex_bias"]),
        fuse_coef=[float(x) for x in doc["fuse_coef"]],
        fuse_bias=float(doc["fuse_bias"]),
        threshold=float(doc["threshold"]),
        meta={k: v for k, v in doc.items() if not k.endswith(("_coef", "_bias"))},
        chr_coef=None
        if chars is None
        else np.load(io.BytesIO(chars), allow_pickle=False).astype(np.float32),
        chr_bias=float(doc.get("chr_bias", 0.0)),
    )


@functools.lru_cache(maxsize=1)
def load_model() -> LearnedModel:
    """Return the shipped model (``_data/guards/injection_model.json`` + lexical weights)."""
    folder = _data_dir()
    chars = folder / "injection_chars.npy"
    return read_model(
        (folder / "injection_model.json").read_text(encoding="utf-8"),
        (folder / "injection_lexical.npy").read_bytes(),
        chars.read_bytes() if chars.is_file() else None,
    )
