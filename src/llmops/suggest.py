"""Did-you-mean: the closest known name to a misspelt one, for error messages."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

__all__ = ["did_you_mean", "suggestion"]


def did_you_mean(word: str, choices: Sequence[str]) -> str | None:
    """Return the closest of ``choices`` to ``word``, or None when nothing is close."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def suggestion(word: str, choices: Sequence[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the closest of ``choices``, or "" when none is close."""
    guess = did_you_mean(word, choices)
    return f" (did you mean '{guess}'?)" if guess else ""
