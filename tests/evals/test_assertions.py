"""llmops.testing assertion helpers on the real embedding model."""

from __future__ import annotations

import pytest

from llmops.testing import assert_grounded, assert_similar

CONTEXTS = [
    {
        "id": "c1",
        "text": "The global statement declares names in the module namespace. It applies to the whole block.",
    },
    "A nonlocal statement rebinds names in the nearest enclosing function scope.",
]


def test_grounded_answer_passes() -> None:
    assert_grounded(
        "The global statement declares names in the module namespace [c1]. "
        "Nonlocal rebinds a name in the nearest enclosing function scope.",
        CONTEXTS,
    )


def test_ungrounded_sentence_is_named() -> None:
    with pytest.raises(AssertionError) as info:
        assert_grounded(
            "The global statement declares names in the module namespace. "
            "Bananas ripen faster when stored next to apples.",
            CONTEXTS,
        )
    assert "1 sentence(s)" in str(info.value) and "Bananas" in str(info.value)


def test_similar_and_not_similar() -> None:
    assert_similar("The cat sat on the mat.", "A cat was sitting on the mat.")
    with pytest.raises(AssertionError, match="not similar enough"):
        assert_similar("The cat sat on the mat.", "Quarterly revenue grew by four percent.")
