"""The int8 embedding backend: same interface, close vectors, same ranking on easy cases."""

from __future__ import annotations

import numpy as np
import pytest

from llmops.embeddings import Embedder, get_embedder

pytestmark = pytest.mark.slow


def test_int8_backend_is_close_to_the_float_model() -> None:
    plain = get_embedder("all-MiniLM-L6-v2")
    fast = get_embedder("int8:all-MiniLM-L6-v2")
    assert isinstance(fast, Embedder) and fast is get_embedder("int8:all-MiniLM-L6-v2")
    assert fast.model_id == "int8:all-MiniLM-L6-v2" and fast.dim == plain.dim == 384
    texts = [
        "The global statement declares names as module-level globals.",
        "Boil the pasta in salted water for ten minutes.",
        "heapq.nlargest returns the n largest elements of a dataset.",
    ]
    a, b = plain.encode(texts), fast.encode(texts)
    assert b.dtype == np.float32 and np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-4)
    assert float((a * b).sum(axis=1).min()) > 0.8
    query = fast.encode(["How do I make a variable global?"])[0]
    assert int(np.argmax(b @ query)) == 0
