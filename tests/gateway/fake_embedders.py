"""Embedding backends for gateway tests: one that records which thread ran it, one that waits.

Registered through ``llmops.embeddings.register_backend`` (the plugin seam) and selected with
``LLMOPS_EMBEDDING_MODEL=<backend>:<name>``; vectors are a hash of the text, not a model.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from llmops.embeddings import register_backend

DIM = 8
#: Thread names that ran encode() / count_tokens(), in call order.
CALLS: list[tuple[str, str]] = []
#: Set to let the "gated" backend finish loading.
GATE = threading.Event()


class HashEmbedder:
    """Deterministic vectors from a hash; records the calling thread."""

    dim = DIM
    max_seq_length = 256

    def __init__(self, model: str, device: str = "cpu") -> None:
        self.model_id = model

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, normalize: bool = True) -> Any:
        CALLS.append(("encode", threading.current_thread().name))
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:DIM], np.uint8) for t in texts]
        return np.asarray(rows, dtype=np.float32) / 255.0

    def count_tokens(self, text: str) -> int:
        CALLS.append(("count_tokens", threading.current_thread().name))
        return len(text.split())


def _gated(model: str, device: str) -> HashEmbedder:
    if not GATE.wait(timeout=60):
        raise RuntimeError("the test never opened the gate")
    return HashEmbedder(model, device)


register_backend("recording", HashEmbedder)
register_backend("gated", _gated)
