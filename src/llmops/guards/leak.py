"""System-prompt leakage: the answer reproduces a long run of the route's system prompt.

Both texts are reduced to lowercase word sequences; every run of ``min_words`` consecutive words
of the answer that also occurs in the system prompt is a leaked span. O(n + m) with a set of the
prompt's word n-grams (built once per system prompt).
"""

from __future__ import annotations

import functools
import re
import time

from pydantic import BaseModel, ConfigDict, Field

from llmops.guards.base import CheckContext, GuardBase, GuardResult, Span, clean_text, timed_result

__all__ = ["INFO", "LeakGuard", "LeakOptions", "leaked_spans"]

_WORD = re.compile(r"\w+")


class LeakOptions(BaseModel):
    """Options of the ``system_prompt_leak`` guard."""

    model_config = ConfigDict(extra="forbid")

    min_words: int = Field(default=8, ge=3, description="Shortest run of words that counts.")
    replacement: str = Field(default="[redacted]", description="What a leaked span becomes.")


@functools.lru_cache(maxsize=64)
def _grams(system_prompt: str, n: int) -> tuple[frozenset[tuple[str, ...]], frozenset[str]]:
    words = [w.casefold() for w in _WORD.findall(system_prompt)]
    grams = frozenset(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    return grams, frozenset(g[0] for g in grams)


def leaked_spans(text: str, system_prompt: str, min_words: int = 8) -> tuple[list[Span], int]:
    """Return spans of ``text`` copied from ``system_prompt`` and the leaked word count."""
    grams, starts = _grams(system_prompt, min_words)
    if not grams:
        return [], 0
    words = [w.casefold() for w in _WORD.findall(text)]
    covered = [False] * len(words)
    found = False
    for i in range(len(words) - min_words + 1):
        # Only a word that starts some run of the prompt can start a copied run.
        if words[i] in starts and tuple(words[i : i + min_words]) in grams:
            found = True
            for j in range(i, i + min_words):
                covered[j] = True
    if not found:
        return [], 0
    matches = list(_WORD.finditer(text))
    spans: list[Span] = []
    i = 0
    while i < len(words):
        if not covered[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(words) and covered[j + 1]:
            j += 1
        start, end = matches[i].start(), matches[j].end()
        spans.append(Span(start=start, end=end, type="system_prompt", text=text[start:end]))
        i = j + 1
    return spans, sum(covered)


class LeakGuard(GuardBase[LeakOptions]):
    """Fail when the answer contains a long verbatim run of the system prompt."""

    stages = ("output",)
    summary = "Answer reproduces a long verbatim run of the route's system prompt."

    def check(self, text: str, ctx: CheckContext) -> GuardResult:
        """Return the leaked spans; the fix replaces them."""
        start = time.perf_counter()
        if not ctx.system_prompt:
            return GuardResult(name=self.name, passed=True, details={"skipped": "no system prompt"})
        text = clean_text(text)
        spans, leaked = leaked_spans(text, ctx.system_prompt, self.options.min_words)
        total = max(1, len(_WORD.findall(ctx.system_prompt)))
        fixed = None
        if spans:
            parts, pos = [], 0
            for span in spans:
                parts += [text[pos : span.start], self.options.replacement]
                pos = span.end
            fixed = "".join(parts) + text[pos:]
        return timed_result(
            self.name,
            start,
            passed=not spans,
            score=round(min(1.0, leaked / total), 4),
            spans=spans,
            details={"leaked_words": leaked, "system_prompt_words": total},
            fixed=fixed,
        )


INFO = LeakGuard.info("system_prompt_leak")
