"""Character n-grams of the normalised text, hashed: the learned layer's spelling-level view.

Word pieces (``learned.lex``) see words; character 3-5-grams also see what is shared by
different spellings, inflections, languages and glued or split words ("instructions",
"instruktionen", "new_instructions"). The text the guard already normalised (casefolded,
accents stripped, spaces collapsed) is read as UTF-8 bytes; every 3-, 4- and 5-byte window is
hashed with numpy (a polynomial rolling value, then a 64-bit multiplicative mix) into
``N_CHR`` columns. Cost per 1,000 characters: a few vector operations (~30 us), no Python loop
over characters. A logistic model over these columns (binary, scaled by 1/sqrt(count), the
lexical model's convention) gives the fusion one more logit, ``chr``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["MAX_CHARS", "N_CHR", "char_ids", "sparse_rows"]

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
    parts = []
    mix = np.uint64(_MIX)
    with np.errstate(over="ignore"):  # the multiplication wraps modulo 2^64 on purpose
        for n in _SIZES:
            if b.size < n:
                break
            h = np.zeros(b.size - n + 1, dtype=np.uint64)
            for k in range(n):
                h = h * np.uint64(_BASE) + b[k : b.size - n + 1 + k]
            h = (h + np.uint64(n)) * mix
            parts.append((h >> np.uint64(40)) % np.uint64(N_CHR))
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate(parts)).astype(np.int64)


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
