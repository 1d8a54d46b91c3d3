"""Assertion helpers for your own tests: is an answer grounded, are two texts alike?

Both use the local embedding model (all-MiniLM-L6-v2, offline)::

    from llmops.testing import assert_grounded, assert_similar

    assert_grounded(answer, [c.text for c in result.chunks])
    assert_similar(answer, "The GIL lets one thread run Python bytecode at a time.")
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["assert_grounded", "assert_similar", "grounding", "similarity"]

_CITATION = re.compile(r"\s*\[[^\]\s]{1,80}\]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(`])")


def _texts(contexts: Sequence[str | Mapping[str, Any] | Any]) -> list[str]:
    out = []
    for ctx in contexts:
        if isinstance(ctx, str):
            out.append(ctx)
        elif isinstance(ctx, Mapping):
            out.append(str(ctx.get("text", "")))
        else:
            out.append(str(getattr(ctx, "text", ctx)))
    return [t for t in out if t.strip()]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if len(s.strip()) > 2]


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def similarity(a: str, b: str, *, model: str | None = None) -> float:
    """Return the cosine similarity of ``a`` and ``b`` with the local embedding model."""
    from llmops.embeddings import get_embedder

    embedder = get_embedder(model) if model else get_embedder()
    vectors = embedder.encode([a or " ", b or " "])
    return float(vectors[0] @ vectors[1])


def grounding(
    answer: str, contexts: Sequence[str | Mapping[str, Any] | Any], *, model: str | None = None
) -> list[tuple[str, float]]:
    """Return each answer sentence with its best support in the contexts (1.0 = quoted)."""
    from llmops.embeddings import get_embedder

    claims = _sentences(_CITATION.sub("", answer))
    texts = _texts(contexts)
    if not claims:
        return []
    if not texts:
        return [(claim, 0.0) for claim in claims]
    pieces = [s for t in texts for s in _sentences(t)] or texts
    joined = " ".join(_normal(t) for t in texts)
    embedder = get_embedder(model) if model else get_embedder()
    claim_vecs = embedder.encode(claims)
    piece_vecs = embedder.encode(pieces + texts)
    scores = (claim_vecs @ piece_vecs.T).max(axis=1)
    return [
        (claim, 1.0 if _normal(claim) and _normal(claim) in joined else float(score))
        for claim, score in zip(claims, scores, strict=True)
    ]


def assert_grounded(
    answer: str,
    contexts: Sequence[str | Mapping[str, Any] | Any],
    *,
    threshold: float = 0.6,
    model: str | None = None,
) -> None:
    """Fail unless every sentence of ``answer`` is supported by some context.

    A sentence is supported when it appears in a context (after normalising case and
    punctuation; ``[id]`` citations are ignored) or its embedding is at least ``threshold``
    similar to a context sentence.
    """
    unsupported = [(c, s) for c, s in grounding(answer, contexts, model=model) if s < threshold]
    if unsupported:
        lines = "\n".join(
            f"  - {claim!r} (best support {score:.2f})" for claim, score in unsupported
        )
        raise AssertionError(
            f"{len(unsupported)} sentence(s) of the answer are not grounded in the contexts "
            f"(threshold {threshold}):\n{lines}"
        )


def assert_similar(a: str, b: str, *, threshold: float = 0.8, model: str | None = None) -> None:
    """Fail unless ``a`` and ``b`` mean about the same (cosine >= ``threshold``)."""
    score = similarity(a, b, model=model)
    if score < threshold:
        raise AssertionError(
            f"texts are not similar enough: {score:.3f} < {threshold}\n  a: {a!r}\n  b: {b!r}"
        )
