"""BM25-style sparse vectors, stored in Qdrant next to the dense ones.

A document vector holds the BM25 term-frequency part for each word (saturated by ``k1`` and
normalised by length with ``b``); Qdrant supplies the IDF part at query time (the sparse
vector is configured with ``Modifier.IDF``), so adding documents never requires re-encoding
old ones. A query vector weighs each distinct query word 1. Words map to indices by a stable
hash (CRC32), so no vocabulary file is needed.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter

from llmops.rag.spec import SparseSpec

__all__ = ["SparseEncoder", "tokenize"]

_WORD = re.compile(r"[a-z0-9_]+")
_STOP = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was "
    "were will with which what how does do can not no if".split()
)


def tokenize(text: str) -> list[str]:
    """Return lower-cased word tokens without stop words."""
    return [t for t in _WORD.findall(text.lower()) if t not in _STOP and len(t) > 1]


def _index(token: str) -> int:
    return zlib.crc32(token.encode("utf-8")) & 0x7FFFFFFF


class SparseEncoder:
    """Encode documents and queries as (indices, values) pairs."""

    def __init__(self, spec: SparseSpec) -> None:
        self.k1 = spec.k1
        self.b = spec.b
        self.avg_len = spec.avg_len

    def document(self, text: str) -> tuple[list[int], list[float]]:
        """Return the BM25 term-frequency weights of ``text``."""
        tokens = tokenize(text)
        counts = Counter(_index(t) for t in tokens)
        norm = self.k1 * (1 - self.b + self.b * len(tokens) / self.avg_len)
        indices = sorted(counts)
        values = [counts[i] * (self.k1 + 1) / (counts[i] + norm) for i in indices]
        return indices, values

    def query(self, text: str) -> tuple[list[int], list[float]]:
        """Return weight 1 for each distinct query word."""
        indices = sorted({_index(t) for t in tokenize(text)})
        return indices, [1.0] * len(indices)
