"""OpenAI routes besides completions: models, embeddings, and classic-ML predictions.

The front door authenticated and rate limited the caller and read the body within
``server.max_body_bytes`` before any of these run.
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import ValidationError

from llmops.gateway.access import Caller
from llmops.gateway.openapi import (
    EmbeddingRequest,
    EmbeddingResponse,
    ModelList,
    ModelObject,
    request_body,
    responses,
)
from llmops.gateway.responses import ApiError
from llmops.gateway.validate import parse_json, validation_error

if TYPE_CHECKING:
    from llmops.gateway.runtime import GatewayRuntime

__all__ = ["router"]

_MAX_TEXTS = 2048
_JSON = "application/json"


def _model_not_found(model: str, known: list[str]) -> ApiError:
    return ApiError(
        404,
        f"The model '{model}' does not exist. Models: {', '.join(known) or 'none'}",
        param="model",
        code="model_not_found",
    )


def _texts(req: EmbeddingRequest) -> list[str]:
    texts = [req.input] if isinstance(req.input, str) else req.input
    if not texts or len(texts) > _MAX_TEXTS:
        raise ApiError(400, f"'input' must hold 1 to {_MAX_TEXTS} texts", param="input")
    if any(not t for t in texts):
        raise ApiError(400, "'input' must not contain empty strings", param="input")
    return texts


def _embed(embedder: Any, texts: list[str], base64_out: bool) -> tuple[list[Any], int]:
    """Encode and count tokens (runs on a worker thread, never on the event loop)."""
    vectors = embedder.encode(texts)
    tokens = sum(embedder.count_tokens(t) for t in texts)
    if base64_out:
        values: list[Any] = [base64.b64encode(v.astype("<f4").tobytes()).decode() for v in vectors]
    else:
        values = [v.tolist() for v in vectors]
    return values, tokens


def router(rt: GatewayRuntime) -> APIRouter:
    """Return the /v1 routes served by FastAPI."""
    api = APIRouter(tags=["openai"])

    @api.get("/v1/models", response_model=ModelList, responses=responses(401, 429))
    async def list_models(_key: Caller) -> Response:
        """List the public model names (routes) and embedding models."""
        return Response(rt.models_body, media_type=_JSON)

    @api.get(
        "/v1/models/{model_id}", response_model=ModelObject, responses=responses(401, 404, 429)
    )
    async def retrieve_model(model_id: str, _key: Caller) -> Response:
        """Describe one model (OpenAI's ``models.retrieve``)."""
        if model_id not in rt.model_names:
            raise _model_not_found(model_id, rt.model_names)
        body = {"id": model_id, "object": "model", "created": 0, "owned_by": "llmops"}
        return Response(orjson.dumps(body), media_type=_JSON)

    @api.post(
        "/v1/embeddings",
        response_model=EmbeddingResponse,
        responses=responses(400, 401, 404, 413, 429, 503),
        openapi_extra=request_body(EmbeddingRequest),
    )
    async def embeddings(request: Request, key: Caller) -> Response:
        """Embed texts with the local sentence-transformers model."""
        try:
            req = EmbeddingRequest.model_validate(parse_json(await request.body()))
        except ValidationError as exc:
            raise validation_error(exc.errors(include_url=False)) from None
        served = rt.config.server.embedding_models
        if req.model not in served:
            raise _model_not_found(req.model, served)
        texts = _texts(req)
        embedder = await rt.embedder()
        if req.dimensions is not None and req.dimensions != embedder.dim:
            raise ApiError(
                400,
                f"'dimensions' {req.dimensions} is not supported: {req.model} returns "
                f"{embedder.dim} dimensions (omit the field or send {embedder.dim})",
                param="dimensions",
                code="unsupported_parameter",
            )
        values, tokens = await rt.in_thread(
            _embed, embedder, texts, req.encoding_format == "base64"
        )
        rt.limiter.charge_tokens(key.id, key.rate_limit, tokens)
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(values)]
        body = {
            "object": "list",
            "data": data,
            "model": req.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return Response(orjson.dumps(body), media_type=_JSON)

    # Classic ML models: POST /v1/models/{name}/predict (champion, 422 on schema mismatch).
    from llmops.mlmodels.serving import make_predict_router

    api.include_router(
        make_predict_router(
            rt.settings,
            trace_store=rt.store,
            trace_writer=rt.writer if rt.store else None,
            clock=lambda: rt.clock(),
        ),
        dependencies=[Depends(_model_name)],
        tags=["models"],
        responses=responses(400, 401, 404, 413, 422, 429, 500, 503),
    )
    return api


def _model_name(name: Annotated[str, Path(description="a registered model name")]) -> None:
    """Refuse names no model can have (control characters, slashes...) with 404, not 503."""
    from llmops.mlmodels.spec import NAME_PATTERN

    if not re.match(NAME_PATTERN, name):
        raise ApiError(
            404,
            f"no model named {name!r}: model names match {NAME_PATTERN}",
            param="name",
            code="model_not_found",
        )
