"""The ONNX export of a sentence-transformers model, made once per machine and cached.

``onnx_model_file(path)`` returns the optimised graph of the model folder ``path`` from the
machine-wide cache (``llmops.machine_cache``), exporting it with torch on first use. The graph
keeps its weights in a separate file (``model.onnx.data``) that ONNX Runtime maps instead of
parsing them out of the protobuf: a session loads in about half the CPU time, which is most of
what an ``llmops query`` process spends on the embedder.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["onnx_export_ready", "onnx_model_file"]

_ONNX_RECIPE = "onnx-export-v3"  # bump when the export or optimisation steps change

_WEIGHTS = ("config.json", "tokenizer.json", "model.safetensors", "pytorch_model.bin")


def _content_key(path: Path) -> str:
    """Return a digest of the model files' bytes, memoised per (path, size, mtime, inode).

    The key names the cache entry, so two virtualenvs holding the same model share one export;
    hashing ~90 MB costs ~0.2 s, so the digest is remembered next to the cache entries.
    """
    import hashlib
    from importlib import metadata

    from llmops.atomic import atomic_write_text
    from llmops.machine_cache import machine_cache_dir

    stamp = hashlib.sha256()
    files = [path / n for n in _WEIGHTS if (path / n).is_file()]
    for f in files:
        st = f.stat()
        stamp.update(f"{f.resolve()}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}\n".encode())
    versions = []
    for dist in ("torch", "onnxruntime"):  # the export and the saved optimised graph
        try:
            versions.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{dist}=none")
    stamp.update(f"{_ONNX_RECIPE}:{','.join(versions)}".encode())
    memo = machine_cache_dir() / "onnx" / ".keys" / f"{stamp.hexdigest()[:32]}.txt"
    try:
        known = memo.read_text("utf-8").strip()
        if len(known) == 64:
            return known
    except OSError:
        pass
    digest = hashlib.sha256(f"{_ONNX_RECIPE}:{','.join(versions)}\n".encode())
    for f in files:
        digest.update(f"{f.name}\n".encode())
        with f.open("rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    key = digest.hexdigest()
    try:
        atomic_write_text(memo, key + "\n")
    except OSError:  # a read-only cache still works, it only hashes again next time
        pass
    return key


def onnx_model_file(path: Path) -> Path:
    """Return the cached, optimised ONNX graph of the model folder ``path`` (made on first use).

    Made once per machine (and per torch/onnxruntime version) in the machine-wide cache; a
    fresh state root (``LLMOPS_HOME``) reuses it.
    """
    from llmops.machine_cache import cached_dir

    key = _entry_key(path)

    def build(folder: Path) -> None:
        raw = folder / "raw.onnx"
        _export_to(path, raw)
        _optimise(raw, folder / "model.onnx")
        raw.unlink()
        (folder / "source.txt").write_text(f"exported from {path}\n", encoding="utf-8")

    return cached_dir("onnx", key, build) / "model.onnx"


def _entry_key(path: Path) -> str:
    return _content_key(path)[:24]  # content only: the same model anywhere maps to one entry


def onnx_export_ready(path: Path) -> bool:
    """Return True when the cached ONNX graph of the model folder ``path`` is already made."""
    from llmops.machine_cache import machine_cache_dir

    return (machine_cache_dir() / "onnx" / _entry_key(path) / ".complete").is_file()


def _optimise(raw: Path, target: Path) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # EXTENDED, not ALL: ALL adds layout transforms tied to this CPU; the cache may be shared.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(target)
    # Weights in a file of their own, beside the graph: a session maps them instead of copying
    # them out of the protobuf (load CPU ~220 -> ~110 ms, same outputs bit for bit). Prepacked
    # weights are not saved: their layout depends on this CPU, and the cache may be shared.
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_file_name", f"{target.name}.data"
    )
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_min_size_in_bytes", "1024"
    )
    options.log_severity_level = 3
    ort.InferenceSession(str(raw), options, providers=["CPUExecutionProvider"])


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
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about data-dependent branches
        torch.onnx.export(
            _Hidden(model),
            tuple(sample[n] for n in names),
            str(target),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "seq"} for n in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,  # the TorchScript exporter needs no onnxscript and handles BERT fine
        )
