"""The chunker's token counter: the word-memo fast path must equal the whole tokenizer."""

from __future__ import annotations

import random
from pathlib import Path

from tokenizers import Tokenizer

from llmops.embeddings import resolve_model_path
from llmops.rag import Chunker
from llmops.rag.chunking import _splits_on_whitespace, _WordCountCache
from llmops.rag.spec import ChunkingSpec

# Characters where BERT's normalizer and pre-tokenizer and Python's str.split disagree, or that
# the normalizer drops or rewrites: controls, Unicode spaces, CJK, accents, a >100-char word.
_TRICKY = [
    " ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\xa0", "\u2028", "\u2029",
    "\u3000", "\u202f", "\u200b", "\x00", "\ufffd", "é", "ß", "中", "文", ".", ",", "(", "a",
    "Z", "1", "##", "\u0301", "\U0001f600", "x" * 120, "tokenization", "Qdrant",
]  # fmt: skip


def _whole() -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(resolve_model_path("all-MiniLM-L6-v2") / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _exact(tokenizer: Tokenizer, text: str) -> int:
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


def test_word_memo_counts_exactly_like_the_whole_tokenizer() -> None:
    tokenizer = _whole()
    chunker = Chunker(ChunkingSpec(), "all-MiniLM-L6-v2")
    assert isinstance(chunker._count, _WordCountCache)  # the fast path is the one in use
    rng = random.Random(7)
    texts = ["".join(rng.choice(_TRICKY) for _ in range(rng.randint(0, 40))) for _ in range(5000)]
    wrong = [t for t in texts if chunker.count_tokens(t) != _exact(tokenizer, t)]
    assert wrong == []


def test_word_memo_is_exact_on_real_prose() -> None:
    import pydoc_data.topics

    tokenizer = _whole()
    chunker = Chunker(ChunkingSpec(), "all-MiniLM-L6-v2")
    topics = list(pydoc_data.topics.topics.values())[:120]
    pieces = [t[i : i + 700] for t in topics for i in range(0, len(t), 700)]
    assert len(pieces) > 500
    assert [chunker.count_tokens(p) for p in pieces] == [_exact(tokenizer, p) for p in pieces]


def test_memo_is_bounded() -> None:
    memo = _WordCountCache(len)
    memo._LIMIT = 10  # type: ignore[misc]
    assert memo(" ".join(f"w{i}" for i in range(25))) == sum(len(f"w{i}") for i in range(25))
    assert len(memo._words) <= 10


def test_other_tokenizer_families_are_counted_whole(tmp_path: Path) -> None:
    bpe = tmp_path / "tokenizer.json"
    bpe.write_text(
        '{"normalizer": null, "pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE"}}',
        "utf-8",
    )
    assert not _splits_on_whitespace(bpe)
    assert _splits_on_whitespace(resolve_model_path("all-MiniLM-L6-v2") / "tokenizer.json")
    (tmp_path / "broken.json").write_text("{", "utf-8")
    assert not _splits_on_whitespace(tmp_path / "broken.json")
