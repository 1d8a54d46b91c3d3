"""The offline ``extractive`` model: answers by quoting the best-supported retrieved sentences.

It needs no GPU and no network. Given the retrieved passages (``request.contexts``) and the
question, it splits the passages into sentences, embeds the question and the sentences with the
local embedding model, scores each sentence by cosine similarity blended with lexical overlap of
the question's content words, picks the best ones with MMR (so near-duplicates are not quoted
twice), and answers with those sentences verbatim, each followed by ``[context-id]``. When the
best support is below ``threshold`` it answers ``I don't know based on the provided documents.``

The question is the last user message, unless ``request.extra["question"]`` is set — the gateway
sets it when a prompt template wraps the question in a longer rendered message.

Sampling parameters are honoured as an LLM server would: ``stop`` ends the answer before the
first stop sequence (finish ``stop``); ``max_tokens`` (or ``max_completion_tokens``) cuts it to
the longest word prefix of at most that many tokens of the embedding model's tokenizer, the one
its usage counts with (finish ``length``); ``n`` returns n choices — identical, since the model
is deterministic (as a temperature-0 model's would be) — and usage counts every choice.

Options (``create_provider("extractive", **options)``; gateway ``options:`` of the pool):
``threshold``, ``max_sentences``, ``lexical_weight``, ``mmr_lambda``, ``relative_cutoff``,
``embedding_model``, ``model``.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from llmops.providers.base import (
    ChatDelta,
    ChatRequest,
    ChatResult,
    Choice,
    Context,
    Usage,
    message_text,
    parse_options,
)
from llmops.validation import Share

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from llmops.embeddings import Embedder

__all__ = [
    "ABSTAIN",
    "ExtractiveOptions",
    "ExtractiveProvider",
    "Sentence",
    "question_of",
    "split_sentences",
]

ABSTAIN = "I don't know based on the provided documents."

# Sentence ends: terminal punctuation followed by space and something that can start a sentence.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9`])")
_WORD = re.compile(r"[a-z0-9_]+")
_STOPWORDS = frozenset(
    """a an the and or but if then else of to in on at by for with from as is are was were be
    been being do does did done have has had having i you he she it we they me my your its our
    their this that these those what which who whom whose when where why how can could should
    would will shall may might must not no yes so than too very just also about into over under
    there here all any each some such only own same other more most few both s t don use used
    using get gets there's what's how's""".split()
)


class ExtractiveOptions(BaseModel):
    """Tuning of the extractive model (defaults calibrated on golden_sets/python-docs.jsonl)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("extractive", description="model name reported in answers")
    threshold: Share = Field(0.42, description="abstain when the best sentence scores below this")
    max_sentences: int = Field(2, ge=1, le=10, description="sentences quoted at most")
    lexical_weight: Share = Field(
        0.3, description="share of lexical overlap in the score (rest: cosine)"
    )
    mmr_lambda: Share = Field(
        0.7, description="relevance vs novelty when picking further sentences"
    )
    relative_cutoff: Share = Field(
        0.85, description="further sentences must score at least this x the best"
    )
    embedding_model: str = Field("all-MiniLM-L6-v2", description="llmops.embeddings spec")
    min_words: int = Field(3, ge=1, description="shorter fragments are not quoted")


@dataclass(frozen=True)
class Sentence:
    """One quotable sentence and the context it came from."""

    text: str
    context_id: str


def split_sentences(text: str) -> list[str]:
    """Split a passage into sentences (lines and paragraphs first, then end punctuation)."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)", text):
        block = " ".join(block.split())
        if block:
            out.extend(s.strip() for s in _SENTENCE_END.split(block) if s.strip())
    return out


def question_of(request: ChatRequest) -> str:
    """Return the question: ``extra['question']`` or the last user message's text."""
    explicit = request.extra.get("question")
    if isinstance(explicit, str) and explicit.strip():
        return explicit.strip()
    for message in reversed(request.messages):
        if message.get("role") == "user" and isinstance(message.get("content"), str | list):
            return message_text(message, sep=" ").strip()
    return ""


def _terms(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 1}


def _stem(word: str) -> str:
    # A light plural/verb-form fold so "lists"/"list" and "sorted"/"sort" meet; enough for overlap.
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


class ExtractiveProvider:
    """Answer from the retrieved contexts by quoting and citing their best sentences."""

    id = "extractive"

    def __init__(self, options: ExtractiveOptions | None = None) -> None:
        self.options = options or ExtractiveOptions()
        self._embedder: Embedder | None = None
        self._cache: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()

    # -- Provider protocol -----------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> ChatResult:
        """Return the whole extractive answer (embedding runs off the event loop)."""
        return await asyncio.to_thread(self.answer, request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        """Yield each choice word by word, then a finish delta per choice; usage comes last."""
        result = await self.complete(request)
        choices = result.all_choices()
        for choice in choices:
            words = choice.content.split(" ") if choice.content else []
            for i, word in enumerate(words):
                yield ChatDelta(
                    content=word if i == len(words) - 1 else word + " ", index=choice.index
                )
        for choice in choices:
            last = choice is choices[-1]
            yield ChatDelta(
                index=choice.index,
                finish_reason=choice.finish_reason,
                usage=result.usage if last else None,
            )

    async def aclose(self) -> None:
        """Drop cached sentence vectors (the embedder is process-wide and stays loaded)."""
        with self._lock:
            self._cache.clear()

    # -- the model -------------------------------------------------------------------------

    def answer(self, request: ChatRequest) -> ChatResult:
        """Return the extractive answer to ``request`` (synchronous; deterministic)."""
        question = question_of(request)
        contexts = request.contexts or []
        picked, _support = self.select(question, contexts)
        if picked:
            full = " ".join(f"{s.text} [{s.context_id}]" for s in picked)
        else:
            full = ABSTAIN
        embedder = self.embedder()
        content, finish = self.shape(full, request)
        cited = [s.context_id for s in picked if f"[{s.context_id}]" in content]
        n = request.n or 1
        completion_tokens = embedder.count_tokens(content) if content else 0
        prompt_text = " ".join([question, *(c.text for c in contexts)])
        usage = Usage(
            prompt_tokens=embedder.count_tokens(prompt_text),
            completion_tokens=completion_tokens * n,
        )
        return ChatResult(
            content=content,
            model=self.options.model,
            finish_reason=finish,
            usage=usage,
            citations=list(dict.fromkeys(cited)),
            choices=[Choice(index=i, content=content, finish_reason=finish) for i in range(n)]
            if n > 1
            else [],
        )

    def shape(self, text: str, request: ChatRequest) -> tuple[str, str]:
        """Apply ``stop`` and the token budget to ``text``; return it with its finish reason."""
        hits = [i for i in (text.find(s) for s in request.stop or () if s) if i >= 0]
        if hits:  # the answer ends just before the first stop sequence, which is not included
            text = text[: min(hits)]
        budget = request.max_tokens
        if budget is None and isinstance(request.extra.get("max_completion_tokens"), int):
            budget = int(request.extra["max_completion_tokens"])
        if budget is None:
            return text, "stop"
        return self.truncate(text, max(0, budget))

    def truncate(self, text: str, budget: int) -> tuple[str, str]:
        """Return the longest word prefix of ``text`` within ``budget`` tokens, and the finish."""
        count = self.embedder().count_tokens
        if count(text) <= budget:
            return text, "stop"
        words = text.split(" ")
        # Word pieces never span a space, so token counts of word prefixes only grow: bisect.
        lo, hi = 0, len(words)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count(" ".join(words[:mid])) <= budget:
                lo = mid
            else:
                hi = mid - 1
        return " ".join(words[:lo]), "length"

    def select(self, question: str, contexts: Sequence[Context]) -> tuple[list[Sentence], float]:
        """Return the sentences to quote (empty = abstain) and the best support score."""
        import numpy as np

        opts = self.options
        sentences = [
            Sentence(text, c.id)
            for c in contexts
            for text in split_sentences(c.text)
            if len(text.split()) >= opts.min_words
        ]
        if not question or not sentences:
            return [], 0.0
        q_vec = self.embedder().encode([question])[0]
        s_vecs = self._encode([s.text for s in sentences])
        cosine = s_vecs @ q_vec
        q_terms = _terms(question)
        lexical = np.array(
            [len(q_terms & _terms(s.text)) / len(q_terms) if q_terms else 0.0 for s in sentences],
            dtype=np.float32,
        )
        scores = (1 - opts.lexical_weight) * cosine + opts.lexical_weight * lexical
        # Stable tie-break on position keeps the answer deterministic across runs.
        order = sorted(range(len(sentences)), key=lambda i: (-float(scores[i]), i))
        best = float(scores[order[0]])
        if best < opts.threshold:
            return [], best
        chosen = [order[0]]
        floor = max(opts.threshold, best * opts.relative_cutoff)
        candidates = [i for i in order[1:] if float(scores[i]) >= floor]
        while candidates and len(chosen) < opts.max_sentences:

            def mmr(i: int) -> float:
                redundancy = max(float(s_vecs[i] @ s_vecs[j]) for j in chosen)
                return opts.mmr_lambda * float(scores[i]) - (1 - opts.mmr_lambda) * redundancy

            nxt = max(candidates, key=lambda i: (mmr(i), -i))
            candidates.remove(nxt)
            if max(float(s_vecs[nxt] @ s_vecs[j]) for j in chosen) > 0.95:
                continue  # a near-verbatim repeat (the same text in two chunks) adds nothing
            chosen.append(nxt)
        return [sentences[i] for i in chosen], best

    def embedder(self) -> Embedder:
        """Return the (process-wide) embedding model, loading it on first use."""
        if self._embedder is None:
            from llmops.embeddings import get_embedder

            self._embedder = get_embedder(self.options.embedding_model)
        return self._embedder

    def _encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        import numpy as np

        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            # Small batches: sentences vary in length and padding to the longest costs more.
            vectors = self.embedder().encode(missing, batch_size=16)
            with self._lock:
                for text, vec in zip(missing, vectors, strict=True):
                    self._cache[text] = vec
                while len(self._cache) > 20_000:  # bounded: a long-running gateway must not grow
                    self._cache.popitem(last=False)
        with self._lock:
            rows = [self._cache.get(t) for t in texts]
        if any(r is None for r in rows):  # evicted meanwhile by another thread: recompute
            return self.embedder().encode(texts, batch_size=16)
        return np.stack([r for r in rows if r is not None])


def create(**options: Any) -> ExtractiveProvider:
    """Build the provider from gateway/eval options, with file-style errors on bad keys."""
    return ExtractiveProvider(parse_options(ExtractiveOptions, options, "extractive"))
