"""One trace: what served one request (or one event an application sent) and how it went.

The record carries the full lineage (prompt name/version/hash; pipeline, pipeline hash, index
version and both embedding models; upstream and model; guard results), the derived fields the
monitors count (top-1 score, abstention, ...), the sampler's decision with its inclusion
probability, and the online evaluation's scores once the trace was scored.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from operator import attrgetter
from typing import Any

import orjson

__all__ = ["COLUMNS", "JSON_FIELDS", "TEXT_FIELDS", "TraceRecord", "record_dict"]

JSON_FIELDS = ("chunk_ids", "chunk_scores", "chunk_sources", "contexts", "guards", "extra")
TEXT_FIELDS = ("question", "answer", "error_message", "score_error", *JSON_FIELDS)


@dataclass(slots=True)
class TraceRecord:
    """What served one request and how it went."""

    request_id: str
    ts: float = field(default_factory=time.time)
    endpoint: str = "chat"
    route: str | None = None
    arm: str | None = None
    strategy: str | None = None
    shadow_of: str | None = None
    key_id: str | None = None
    user: str | None = None
    stream: bool = False
    status: int = 200
    error_code: str | None = None
    error_message: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    prompt_hash: str | None = None
    index_pipeline: str | None = None
    index_version: str | None = None
    upstream: str | None = None
    upstream_model: str | None = None
    replica: str | None = None
    latency_ms: float | None = None
    retrieval_ms: float | None = None
    upstream_ms: float | None = None
    first_token_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    chunk_ids: list[str] | None = None
    chunk_scores: list[float] | None = None
    question: str | None = None
    answer: str | None = None
    guards: list[dict[str, Any]] | None = None
    extra: dict[str, Any] | None = None
    # -- lineage added with schema 2 -----------------------------------------------------------
    pipeline_hash: str | None = None
    index_embedding_model: str | None = None
    query_embedding_model: str | None = None
    retrieval_mode: str | None = None
    chunk_sources: list[str | None] | None = None
    contexts: list[dict[str, Any]] | None = None  # context texts: kept for sampled traces only
    # -- derived at write time (llmops.traces.derive) ------------------------------------------
    top1_score: float | None = None
    topk_score: float | None = None
    fallback: bool | None = None
    guard_fired: bool | None = None
    abstained: bool | None = None
    refused: bool | None = None
    answer_chars: int | None = None
    out_of_coverage: bool | None = None
    feedback: float | None = None
    ts_client: float | None = None  # the sender's clock when it disagreed with ours
    # -- the sampler's decision (llmops.traces.sampling) ---------------------------------------
    sample_u: float | None = None
    inclusion_p: float | None = None
    sampled: bool | None = None
    risk: str | None = None
    # -- online evaluation, written back by the scorer -----------------------------------------
    scored_at: float | None = None
    groundedness: float | None = None
    unsupported: bool | None = None
    judge: str | None = None
    judge_faithfulness: float | None = None
    judge_relevance: float | None = None
    score_error: str | None = None
    # Transient: the upstream's raw answer and the retrieved contexts, handled off the request
    # path. Not stored.
    raw_body: bytes | None = None
    raw_chunks: list[bytes] | None = None
    raw_contexts: Any = None

    def finish(self) -> None:
        """Fill answer and token counts from the raw upstream body or SSE chunks."""
        if self.raw_body is not None:
            _from_body(self, self.raw_body)
            self.raw_body = None
        if self.raw_chunks is not None:
            _from_sse(self, b"".join(self.raw_chunks))
            self.raw_chunks = None

    def note_retrieval(self, result: Any, contexts: Any, query_model: str | None) -> None:
        """Record a retrieval's lineage (pipeline hash, embedding models, mode) and contexts.

        ``result`` is a ``RetrievalResult`` (its ``lineage`` and ``mode``); ``contexts`` the
        provider contexts the answer was written from; both are read off the request path.
        """
        lineage = result.lineage
        self.index_pipeline = lineage.pipeline
        self.index_version = lineage.index_version
        self.pipeline_hash = lineage.pipeline_hash
        self.index_embedding_model = lineage.embedding_model
        self.query_embedding_model = query_model
        self.retrieval_mode = result.mode
        self.raw_contexts = contexts

    def row(self, record_text: bool = True) -> dict[str, Any]:
        """Return the database row."""
        return dict(zip(COLUMNS, self.values(record_text), strict=True))

    def values(self, record_text: bool = True) -> tuple[Any, ...]:
        """Return the database row as a tuple in ``COLUMNS`` order (the writer's fast path)."""
        out = list(_COLUMN_VALUES(self))
        for i in _JSON_INDEX:
            if out[i] is not None:
                out[i] = orjson.dumps(out[i]).decode()
        if not record_text:
            for i in _TEXT_INDEX:
                out[i] = None
        return tuple(out)


COLUMNS: tuple[str, ...] = tuple(
    f.name for f in fields(TraceRecord) if not f.name.startswith("raw_")
)
_COLUMN_VALUES = attrgetter(*COLUMNS)  # one C call for the whole row
_JSON_INDEX = tuple(COLUMNS.index(f) for f in JSON_FIELDS)
_TEXT_INDEX = tuple(COLUMNS.index(f) for f in ("question", "answer", "contexts"))


def _usage(rec: TraceRecord, usage: Any) -> None:
    if isinstance(usage, dict):
        pt, ct = usage.get("prompt_tokens"), usage.get("completion_tokens")
        rec.prompt_tokens = pt if isinstance(pt, int) else rec.prompt_tokens
        rec.completion_tokens = ct if isinstance(ct, int) else rec.completion_tokens


def _meta(rec: TraceRecord, data: dict[str, Any]) -> None:
    """Take token usage and the model name from an answer (or one stream chunk)."""
    _usage(rec, data.get("usage"))
    if rec.upstream_model is None and isinstance(data.get("model"), str):
        rec.upstream_model = data["model"]


def _text(choice: Any, part: str) -> str | None:
    """Return a choice's text: ``choice[part].content`` (chat) or ``choice.text`` (legacy)."""
    if not isinstance(choice, dict):
        return None
    inner = choice.get(part)
    content = inner.get("content") if isinstance(inner, dict) else None
    if isinstance(content, str):
        return content
    text = choice.get("text")
    return text if isinstance(text, str) else None


def _json_object(raw: bytes) -> dict[str, Any] | None:
    """Return ``raw`` parsed as a JSON object, or None (an upstream's answer may be anything)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _from_body(rec: TraceRecord, raw: bytes) -> None:
    data = _json_object(raw)
    if data is None:
        return
    _meta(rec, data)
    choices = data.get("choices")
    if isinstance(choices, list) and choices:
        text = _text(choices[0], "message")
        if text is not None:
            rec.answer = text


def _from_sse(rec: TraceRecord, raw: bytes) -> None:
    parts: list[str] = []
    for line in raw.split(b"\n"):
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if not payload or payload == b"[DONE]":
            continue
        chunk = _json_object(payload)
        if chunk is None:
            continue
        _meta(rec, chunk)
        for choice in chunk.get("choices") or ():
            text = _text(choice, "delta")
            if text is not None:
                parts.append(text)
    rec.answer = "".join(parts)


def record_dict(record: TraceRecord) -> dict[str, Any]:
    """Return a record as a plain dict (for logs and tests)."""
    return {k: v for k, v in asdict(record).items() if not k.startswith("raw_")}
