"""Token counts with a real tokenizer when one is at hand, else about 4 characters per token.

The tokenizer is the model folder's ``tokenizer.json`` read by the ``tokenizers`` library (no
transformers import): the embedding model's (``all-MiniLM-L6-v2`` ships one) or any local model
folder. Eval pre-flight estimates and the chunker count with it; a spec without a local folder
(a remote model, a custom backend) falls back to characters.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

__all__ = ["CHARS_PER_TOKEN", "chars_estimate", "model_folder", "token_counter"]

CHARS_PER_TOKEN = 4  # English prose; the fallback when no tokenizer is at hand


def chars_estimate(text: str) -> int:
    """Return about one token per 4 characters (at least 1)."""
    return max(1, len(text) // CHARS_PER_TOKEN)


def model_folder(spec: str) -> Path | None:
    """Return the local folder of a model spec ([backend:]model or a path), if it has one."""
    from llmops.embeddings import resolve_model_path

    model = spec.split(":", 1)[1] if ":" in spec and not spec.startswith("/") else spec
    try:
        return resolve_model_path(model)
    except Exception:  # a custom backend may use a non-path id; fall back to characters
        return None


@functools.lru_cache(maxsize=8)
def token_counter(spec: str) -> Callable[[str], int]:
    """Return ``count(text)``: tokens of ``spec``'s tokenizer, or the 4-characters estimate."""
    folder = model_folder(spec)
    if folder is None or not (folder / "tokenizer.json").is_file():
        return chars_estimate
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()  # the shipped tokenizer.json pads to 128

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count
