"""Chunks: token-aware recursive splitting of document sections, with deterministic ids.

Splitting is langchain-text-splitters' ``RecursiveCharacterTextSplitter`` measuring length in
tokens of the embedding model (its ``tokenizer.json`` through the ``tokenizers`` library, which
is what ``from_huggingface_tokenizer`` does, without importing transformers). A chunk id is a
UUID derived from everything stored in the point (source, position, text, headings, metadata),
so the same content always lands on the same id and a re-run can tell what changed.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops.hashing import sha256_text
from llmops.rag.documents import Document
from llmops.rag.spec import ChunkingSpec
from llmops.tokens import chars_estimate, model_folder, token_counter

__all__ = ["Chunk", "Chunker", "model_folder"]

_NAMESPACE = uuid.UUID("6f1c8e62-0b7a-4d0e-9a53-7a7d3c1f2b10")


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
        count = token_counter(model_spec)
        folder = model_folder(model_spec)
        if folder is not None and count is not chars_estimate:
            if _splits_on_whitespace(folder / "tokenizer.json"):
                return _WordCountCache(count)
        return count

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


# BERT's normalizer drops control characters, then it and the pre-tokenizer split on Unicode
# White_Space; what is left of that set after the controls are gone is exactly this class.
_BERT_SPACE = re.compile("[ \t\n\r\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")


def _splits_on_whitespace(tokenizer_json: Path) -> bool:
    """Whether a text's token count is the sum of the counts of its whitespace-split words.

    True for BERT-style WordPiece tokenizers (BertNormalizer + BertPreTokenizer): no token
    spans whitespace and a word tokenizes the same alone as in context. Byte-level BPE and
    SentencePiece tokenizers fold the space into the next token, so they are counted whole.
    """
    try:
        config = json.loads(tokenizer_json.read_text("utf-8"))
    except (OSError, ValueError):
        return False
    normalizer = config.get("normalizer") or {}
    pre = config.get("pre_tokenizer") or {}
    return (
        normalizer.get("type") == "BertNormalizer"
        and normalizer.get("clean_text", True) is True
        and pre.get("type") == "BertPreTokenizer"
        and (config.get("model") or {}).get("type") == "WordPiece"
    )


class _WordCountCache:
    """Count tokens word by word with a memo: the splitter measures the same words many times.

    Exact for tokenizers where :func:`_splits_on_whitespace` holds (tested against the whole
    tokenizer on the sample corpus and on adversarial strings); 4-6x faster on prose.
    """

    _LIMIT = 200_000

    def __init__(self, count: Callable[[str], int]) -> None:
        self._count = count
        self._words: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        words = self._words
        total = 0
        for word in _BERT_SPACE.split(text):
            n = words.get(word)
            if n is None:
                if len(words) >= self._LIMIT:
                    words.clear()
                n = words[word] = self._count(word) if word else 0
            total += n
        return total
