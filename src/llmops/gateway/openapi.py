"""The gateway's OpenAPI document: request and response shapes and the statuses it answers.

FastAPI documents its own routes from these models; ``document`` adds the completion fast path
(served outside FastAPI) and drops FastAPI's default 422 where the gateway answers 400.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChatCompletionRequest",
    "CompletionRequest",
    "EmbeddingRequest",
    "ErrorResponse",
    "Health",
    "ModelObject",
    "ModelList",
    "Readiness",
    "document",
    "request_body",
    "responses",
]

_MESSAGES = {
    400: "invalid request (OpenAI error body; `param` names the field)",
    401: "missing or invalid API key",
    403: "the key lacks a scope this needs",
    404: "no such model, route or resource",
    413: "request body larger than server.max_body_bytes",
    422: "the input does not match the model's schema",
    429: "rate limited; Retry-After says when to retry",
    500: "the gateway failed (its log has the request id)",
    502: "the upstream failed or answered garbage",
    503: "not available now (upstream, model registry or index); retry later",
    504: "the upstream timed out",
}


class ErrorBody(BaseModel):
    """OpenAI's error object."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """Every error the gateway answers, as OpenAI sends them."""

    error: ErrorBody


def responses(*statuses: int, ok: dict[str, Any] | None = None) -> dict[int | str, Any]:
    """Return FastAPI ``responses=`` documenting ``statuses`` as OpenAI error bodies."""
    out: dict[int | str, Any] = {
        s: {"model": ErrorResponse, "description": _MESSAGES.get(s, "error")} for s in statuses
    }
    if ok is not None:
        out[200] = ok
    return out


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """Return ``openapi_extra`` for a route that reads its JSON body itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }


class Health(BaseModel):
    """``GET /healthz``."""

    status: Literal["ok"]


class Readiness(BaseModel):
    """``GET /readyz``: 200 when ready, 503 with the problems otherwise."""

    status: Literal["ready", "not ready"]
    problems: list[str]


class ModelObject(BaseModel):
    """One model (a route or an embedding model)."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(BaseModel):
    """``GET /v1/models``."""

    object: Literal["list"]
    data: list[ModelObject]


class EmbeddingRequest(BaseModel):
    """``POST /v1/embeddings``."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, description="an embedding model from GET /v1/models")
    input: str | list[str] = Field(
        description="one text or 1 to 2048 texts (token arrays are not supported)"
    )
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(
        None,
        ge=1,
        description="only the model's own size is supported (384 for all-MiniLM-L6-v2); "
        "any other value is refused with 400",
    )
    user: str | None = None


class Embedding(BaseModel):
    """One vector."""

    object: Literal["embedding"]
    index: int
    embedding: list[float] | str


class EmbeddingResponse(BaseModel):
    """The vectors, in input order."""

    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: dict[str, int]


class TextPart(BaseModel):
    """A text content part."""

    type: Literal["text"]
    text: str


class ImagePart(BaseModel):
    """An image content part (forwarded to the upstream)."""

    type: Literal["image_url"]
    image_url: dict[str, Any]


class Message(BaseModel):
    """A chat message (tool calls and other OpenAI fields are forwarded)."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart | ImagePart] | None = None
    name: str | None = None


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions`` (OpenAI's schema; unknown fields are forwarded)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, description="a route name from GET /v1/models")
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    max_tokens: int | None = Field(None, ge=1)
    n: int | None = Field(None, ge=1)
    temperature: float | None = None
    tools: list[dict[str, Any]] | None = None
    user: str | None = Field(None, description="also the sticky key for canary/A-B routes")


class CompletionRequest(BaseModel):
    """``POST /v1/completions`` (legacy text completions)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    prompt: str | list[str]
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1)


class Completion(BaseModel):
    """A chat.completion or text_completion object (OpenAI's fields, all passed through)."""

    model_config = ConfigDict(extra="allow")

    id: str
    object: str
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: dict[str, Any] | None = None


_COMPLETION_STATUSES = (400, 401, 403, 404, 413, 429, 500, 502, 503, 504)
#: One server-sent event: ``data`` holds a JSON chunk (or an error object), then ``[DONE]``.
_SSE_EVENT = {
    "type": "object",
    "properties": {"data": {"type": "string"}, "event": {"type": "string"}},
    "required": ["data"],
}


def _schemas(schema: dict[str, Any], *models: type[BaseModel]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in models:
        doc = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(doc.pop("$defs", {}))
        components[model.__name__] = doc


def _fast_path(model: type[BaseModel], summary: str) -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/Completion"}
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    return {
        "post": {
            "tags": ["openai"],
            "summary": summary,
            "operationId": f"create_{model.__name__}",
            **request_body(model),
            "responses": {
                "200": {
                    "description": "OpenAI answer (an SSE stream of chunks when stream=true); "
                    "headers x-llmops-route, x-llmops-prompt, x-llmops-index, "
                    "x-llmops-upstream, x-request-id",
                    "content": {
                        "application/json": {"schema": ref},
                        "text/event-stream": {"schema": _SSE_EVENT},
                    },
                },
                **{
                    str(s): {
                        "description": _MESSAGES[s],
                        "content": {"application/json": {"schema": error}},
                    }
                    for s in _COMPLETION_STATUSES
                },
            },
        }
    }


def _drop_default_422(schema: dict[str, Any]) -> None:
    """Remove FastAPI's automatic 422 (the gateway answers 400 for invalid input)."""
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            found = operation.get("responses", {}).get("422")
            if found and "HTTPValidationError" in str(found):
                del operation["responses"]["422"]
    components = schema.get("components", {}).get("schemas", {})
    if "HTTPValidationError" not in str(schema.get("paths")):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)


def document(api: FastAPI) -> None:
    """Complete ``api``'s OpenAPI document (built once, on first request)."""
    base = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is not None:
            return api.openapi_schema
        schema = base()
        _drop_default_422(schema)
        _schemas(
            schema,
            ChatCompletionRequest,
            CompletionRequest,
            EmbeddingRequest,
            Completion,
            ErrorResponse,
        )
        paths = schema.setdefault("paths", {})
        paths["/v1/chat/completions"] = _fast_path(
            ChatCompletionRequest, "Create a chat completion (SSE when stream=true)"
        )
        paths["/v1/completions"] = _fast_path(CompletionRequest, "Create a text completion")
        api.openapi_schema = schema
        return schema

    api.openapi = openapi  # type: ignore[method-assign]
