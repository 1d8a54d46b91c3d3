"""Character n-grams of the learned layer, and models fitted before a fusion feature existed."""

from __future__ import annotations

import json

import numpy as np

from llmops.guards.chars import N_CHR, char_ids, sparse_rows
from llmops.guards.learned import FUSE_FEATURES, load_model, read_model


def test_char_ids_are_deterministic_sorted_and_in_range() -> None:
    ids = char_ids(["ignore the previous instructions"])
    assert ids.dtype == np.int64 and ids.size > 20
    assert (np.diff(ids) > 0).all() and ids.min() >= 0 and ids.max() < N_CHR
    assert (char_ids(["ignore the previous instructions"]) == ids).all()
    # Shared spelling shares columns: an inflected, glued form overlaps, an unrelated one barely.
    near = np.intersect1d(ids, char_ids(["ignoring previousinstructions"])).size
    far = np.intersect1d(ids, char_ids(["quarterly kettle sales rose"])).size
    assert near > 5 * max(1, far)
    assert char_ids(["ab"]).size == 0 and char_ids([]).size == 0


def test_sparse_rows_scale_each_row_by_its_size() -> None:
    x = sparse_rows([np.array([1, 5, 9]), np.zeros(0, dtype=np.int64), np.array([2])], 16)
    assert x.shape == (3, 16)
    assert np.allclose(x.toarray()[0, [1, 5, 9]], 1 / np.sqrt(3)) and x[1].nnz == 0
    assert x[2, 2] == 1.0


def test_a_model_without_the_new_features_fuses_them_with_zero_weight() -> None:
    shipped = load_model()
    assert len(shipped.fuse_coef) == len(FUSE_FEATURES)
    doc = {
        "features": ["pattern", "lex"], "threshold": 0.5, "emb_coef": [0.0], "emb_bias": 0.0,
        "lex_bias": 0.0, "fuse_coef": [2.0, 1.0], "fuse_bias": -1.0,
    }  # fmt: skip
    import io

    buf = io.BytesIO()
    np.save(buf, np.zeros(4, dtype=np.float16))
    model = read_model(json.dumps(doc), buf.getvalue())
    weights = dict(zip(FUSE_FEATURES, model.fuse_coef, strict=True))
    assert weights["pattern"] == 2.0 and weights["chr"] == 0.0 and weights["n_patterns"] == 0.0
    assert model.chr_coef is None and model.chr_logit(np.array([1, 2])) == 0.0
    doc["features"] = ["pattern", "lexx"]
    try:
        read_model(json.dumps(doc), buf.getvalue())
    except ValueError as exc:
        assert "lexx" in str(exc)
    else:
        raise AssertionError("an unknown fusion feature was accepted")
