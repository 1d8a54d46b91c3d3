"""Character n-grams of the normalised text, hashed: the learned layer's spelling-level view.

Word pieces (``learned.lex``) see words; character 3-5-grams also see what is shared by
different spellings, inflections, languages and glued or split words ("instructions",
"instruktionen", "new_instructions"). The text the guard already normalised (casefolded,
accents stripped, spaces collapsed) is read as UTF-8 bytes; every 3-, 4- and 5-byte window is
hashed with numpy (a polynomial rolling value, then a 64-bit multiplicative mix) into
``N_CHR`` columns. Cost per 1,000 characters: a few vector operations (~40 us), no Python loop
over characters. A logistic model over these columns (binary, scaled by 1/sqrt(count), the
lexical model's convention) gives the fusion one more logit, ``chr``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["MAX_CHARS", "N_CHR", "char_ids", "sorted_unique", "sparse_rows"]

N_CHR = 1 << 18
MAX_CHARS = 8000
_SIZES = (3, 4, 5)
_BASE = 257
_MIX = 0x9E3779B97F4A7C15  # 2^64 / golden ratio: spreads nearby values over the columns


def char_ids(texts: Sequence[str]) -> npt.NDArray[np.int64]:
    """Return the sorted unique hashed character 3-5-gram ids of ``texts`` read as one text."""
    import numpy as np

    text = " ".join(t for t in texts if t)[:MAX_CHARS]
    b = np.frombuffer(text.encode("utf-8", "replace"), dtype=np.uint8).astype(np.uint64)
    if b.size < _SIZES[0]:
        return np.zeros(0, dtype=np.int64)
    base = np.uint64(_BASE)
    parts = []
    with np.errstate(over="ignore"):  # the multiplication wraps modulo 2^64 on purpose
        # The polynomial value of each n-gram is the (n-1)-gram's times the base plus the next
        # byte: one multiply-add per size, not n of them.
        h = b[:-2] * base
        h += b[1:-1]
        h *= base
        h += b[2:]
        for n in _SIZES:
            if b.size < n:
                break
            if n > _SIZES[0]:
                h = h[:-1] * base
                h += b[n - 1 :]
            parts.append(h + np.uint64(n))
        mixed = np.concatenate(parts)
        mixed *= np.uint64(_MIX)
    mixed >>= np.uint64(40)
    mixed &= np.uint64(N_CHR - 1)  # == % N_CHR (a power of two)
    return sorted_unique(mixed)


def sorted_unique(ids: Any) -> npt.NDArray[np.int64]:
    """``np.unique`` of non-negative ids below 2^32, as int64, several times faster.

    numpy 2's ``np.unique`` hashes before it sorts (~200 us for 3,000 ids here); a 32-bit sort
    (vectorised) and a neighbour comparison give the same sorted array in ~15 us.
    """
    import numpy as np

    s = np.sort(ids.astype(np.uint32))
    keep = np.empty(s.size, dtype=bool)
    keep[:1] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep].astype(np.int64)


def sparse_rows(rows: Sequence[npt.NDArray[np.int64]], width: int) -> Any:
    """Return a CSR matrix with one row per id array: 1/sqrt(ids) at each id, 0 elsewhere."""
    import numpy as np
    from scipy.sparse import csr_matrix

    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([ids.size for ids in rows])
    vals = [np.full(ids.size, 1.0 / max(1.0, float(ids.size)) ** 0.5) for ids in rows]
    empty = np.zeros(0)
    return csr_matrix(
        (
            np.concatenate(vals) if vals else empty,
            np.concatenate(list(rows)) if rows else empty.astype(np.int64),
            indptr,
        ),
        shape=(len(rows), width),
    )
