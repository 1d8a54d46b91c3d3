"""Token counts: the model's tokenizer when one is at hand, else about 4 characters per token."""

from __future__ import annotations

from llmops.config import DEFAULT_EMBEDDING_MODEL
from llmops.tokens import chars_estimate, token_counter


def test_the_embedding_tokenizer_counts_real_tokens() -> None:
    count = token_counter(DEFAULT_EMBEDDING_MODEL)
    assert count is not chars_estimate
    # WordPiece: "tokenization" is two pieces, punctuation is its own token.
    assert count("tokenization") == 2
    assert count("Hello, world!") == 4
    assert count("a " * 100) == 100  # where 4 characters per token would say 50


def test_without_a_tokenizer_it_falls_back_to_characters() -> None:
    count = token_counter("remote:some-hosted-model")
    assert count is chars_estimate
    assert count("x" * 40) == 10 and count("") == 1
