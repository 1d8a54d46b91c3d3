"""Chunks: token-aware recursive splitting of document sections, with deterministic ids.

Splitting is langchain-text-splitters' ``RecursiveCharacterTextSplitter`` measuring length in
tokens of the embedding model (its ``tokenizer.json`` through the ``tokenizers`` library, which
is what ``from_huggingface_tokenizer`` does, without importing transformers). A chunk id is a
UUID derived from everything stored in the point (source, position, text, headings, metadata),
so the same content always lands on the same id and a re-run can tell what changed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops.files import sha256_text
from llmops.rag.documents import Document
from llmops.rag.spec import ChunkingSpec

__all__ = ["Chunk", "Chunker", "model_folder"]

_NAMESPACE = uuid.UUID("6f1c8e62-0b7a-4d0e-9a53-7a7d3c1f2b10")


def model_folder(spec: str) -> Path | None:
    """Return the local folder of an embedder spec ([backend:]model), if it has one."""
    from llmops.embeddings import resolve_model_path

    model = spec.split(":", 1)[1] if ":" in spec and not spec.startswith("/") else spec
    try:
        return resolve_model_path(model)
    except Exception:  # a custom backend may use a non-path id; fall back to characters
        return None


@dataclass
class Chunk:
    """One piece of a document, ready to embed and store."""

    id: str
    content_hash: str
    embed_text: str
    payload: dict[str, Any]


class Chunker:
    """Split documents into chunks of at most ``chunk_size`` model tokens."""

    def __init__(self, spec: ChunkingSpec, model_spec: str) -> None:
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        self.spec = spec
        self._count = self._token_counter(model_spec)
        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=spec.chunk_size,
            chunk_overlap=spec.chunk_overlap,
            length_function=self._count,
            separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""],
            keep_separator="end",
        )

    @staticmethod
    def _token_counter(model_spec: str) -> Callable[[str], int]:
        folder = model_folder(model_spec)
        if folder is not None and (folder / "tokenizer.json").is_file():
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            tokenizer.no_truncation()
            tokenizer.no_padding()  # the shipped tokenizer.json pads to 128

            def count(text: str) -> int:
                return len(tokenizer.encode(text, add_special_tokens=False).ids)

            return count
        return lambda text: max(1, len(text) // 4)  # about 4 characters per token

    def count_tokens(self, text: str) -> int:
        """Return the number of model tokens in ``text``."""
        return self._count(text)

    def chunks(self, doc: Document) -> Iterator[Chunk]:
        """Yield the chunks of ``doc`` in order (sections are read lazily)."""
        index = 0
        meta_json = json.dumps(doc.metadata, sort_keys=True, default=str)
        for section in doc.sections():
            for piece in self._splitter.split_text(section.text):
                text = piece.strip()
                if not text:
                    continue
                headings = list(section.heading_path)
                if headings and headings[0] == doc.title:
                    headings = headings[1:]  # the top heading usually repeats the title
                prefix = " > ".join([doc.title, *headings][:4])
                embed_text = f"{prefix}\n{text}" if self.spec.prepend_title and prefix else text
                content_hash = sha256_text(embed_text)
                key = "\x00".join(
                    [
                        doc.source,
                        str(index),
                        content_hash,
                        json.dumps(section.heading_path),
                        meta_json,
                    ]
                )
                payload = {
                    "text": text,
                    "source": doc.source,
                    "title": doc.title,
                    "heading_path": list(section.heading_path),
                    "chunk_index": index,
                    "content_hash": content_hash,
                    "metadata": doc.metadata,
                }
                yield Chunk(str(uuid.uuid5(_NAMESPACE, key)), content_hash, embed_text, payload)
                index += 1
