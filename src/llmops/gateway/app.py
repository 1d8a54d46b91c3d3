"""The gateway application: a raw ASGI fast path for completions in front of a FastAPI app for
everything else (models, embeddings, admin, health, metrics, the OpenAPI document).
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from llmops import __version__
from llmops.errors import LLMOpsError
from llmops.gateway.auth import ApiKey
from llmops.gateway.chat import handle_completion
from llmops.gateway.responses import ApiError, error_body, send_json
from llmops.gateway.runtime import GatewayRuntime
from llmops.gateway.validate import Receive

__all__ = ["GatewayApp", "create_app"]


class EmbeddingRequest(BaseModel):
    """``POST /v1/embeddings``."""

    model_config = ConfigDict(extra="allow")

    model: str
    input: str | list[str] = Field(description="text or texts (token arrays are not supported)")
    encoding_format: Literal["float", "base64"] = "float"
    user: str | None = None


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions`` (OpenAI's schema; unknown fields are forwarded)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(description="a route name from GET /v1/models")
    messages: list[dict[str, Any]]
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = None
    user: str | None = Field(None, description="also the sticky key for canary/A-B routes")


class CompletionRequest(BaseModel):
    """``POST /v1/completions`` (legacy text completions)."""

    model_config = ConfigDict(extra="allow")

    model: str
    prompt: str | list[str]
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1)


def _runtime(request: Request) -> GatewayRuntime:
    return request.app.state.runtime  # type: ignore[no-any-return]


def _caller(request: Request) -> ApiKey:
    rt = _runtime(request)
    if not rt.keys.enabled:
        return rt.keys.anonymous
    key = rt.keys.authenticate(request.headers.get("authorization"))
    if key is None:
        raise ApiError(
            401,
            "missing or invalid API key: send 'Authorization: Bearer <key>'",
            code="invalid_api_key",
        )
    return key


def _admin(request: Request, key: Annotated[ApiKey, Depends(_caller)]) -> ApiKey:
    if not _runtime(request).keys.enabled:
        raise ApiError(
            403,
            "admin endpoints need auth: set auth.enabled and give a key the 'admin' scope",
            code="admin_disabled",
        )
    if not key.is_admin:
        raise ApiError(403, f"key '{key.id}' lacks the 'admin' scope", code="insufficient_scope")
    return key


def _limited(request: Request, key: Annotated[ApiKey, Depends(_caller)]) -> ApiKey:
    from llmops.gateway.chat import check_rate_limit

    check_rate_limit(_runtime(request), key)  # the same per-key buckets as completions
    return key


Limited = Annotated[ApiKey, Depends(_limited)]
Admin = Annotated[ApiKey, Depends(_admin)]


def _error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(orjson.loads(exc.body()), status_code=exc.status, headers=exc.headers)


def create_api(rt: GatewayRuntime) -> FastAPI:
    """Return the FastAPI app serving everything but the completion fast path."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await rt.start()
        try:
            yield
        finally:
            await rt.close()

    api = FastAPI(
        title="llmops gateway",
        version=__version__,
        description="OpenAI-compatible gateway: routes, prompts, RAG, release strategies, traces.",
        lifespan=lifespan,
    )
    api.state.runtime = rt

    @api.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc)

    @api.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request", "loc": ()}
        param = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
        return _error_response(
            ApiError(
                400,
                f"{param}: {first['msg']}" if param else str(first["msg"]),
                param=param,
                code="invalid_request",
            )
        )

    @api.exception_handler(LLMOpsError)
    async def _llmops_error(_request: Request, exc: LLMOpsError) -> JSONResponse:
        status = 404 if type(exc).__name__ == "NotFoundError" else 400
        return _error_response(
            ApiError(
                status, str(exc) + (f" ({exc.hint})" if exc.hint else ""), code=type(exc).__name__
            )
        )

    @api.get("/v1/models", tags=["openai"])
    async def list_models(_key: Limited) -> Response:
        """List the public model names (routes) and embedding models."""
        return Response(rt.models_body, media_type="application/json")

    @api.post("/v1/embeddings", tags=["openai"])
    async def embeddings(req: EmbeddingRequest, key: Limited) -> Response:
        """Embed texts with the local sentence-transformers model."""
        if req.model not in rt.config.server.embedding_models:
            known = ", ".join(rt.config.server.embedding_models)
            raise ApiError(
                404,
                f"The model '{req.model}' does not exist. Embedding models: {known}",
                param="model",
                code="model_not_found",
            )
        texts = [req.input] if isinstance(req.input, str) else req.input
        if not texts or len(texts) > 2048:
            raise ApiError(400, "'input' must hold 1 to 2048 texts", param="input")
        from llmops.embeddings import get_embedder

        embedder = await rt.in_thread(get_embedder, rt.settings.embedding.model)
        vectors = await rt.in_thread(embedder.encode, texts)
        tokens = sum(embedder.count_tokens(t) for t in texts)
        rt.limiter.charge_tokens(key.id, key.rate_limit, tokens)
        data = []
        for i, vec in enumerate(vectors):
            value: Any = (
                base64.b64encode(vec.astype("<f4").tobytes()).decode()
                if req.encoding_format == "base64"
                else vec.tolist()
            )
            data.append({"object": "embedding", "index": i, "embedding": value})
        body = {
            "object": "list",
            "data": data,
            "model": req.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return Response(orjson.dumps(body), media_type="application/json")

    # Classic ML models: POST /v1/models/{name}/predict (champion, 422 on schema mismatch, traces).
    from llmops.mlmodels.serving import make_predict_router

    api.include_router(
        make_predict_router(
            rt.settings, trace_store=rt.store, trace_writer=rt.writer if rt.store else None
        ),
        dependencies=[Depends(_limited)],
        tags=["models"],
    )

    @api.post("/v1/monitor/events", tags=["monitor"])
    async def monitor_events(request: Request, key: Limited) -> Response:
        """Store traces and feedback from applications that call models without the gateway.

        The batch is validated whole: one bad event rejects it with 422, nothing stored.
        """
        from llmops.monitor.hooks import receive_events

        body = await request.body()
        if len(body) > rt.config.server.max_body_bytes:
            raise ApiError(413, "request body too large", code="request_too_large")
        return await receive_events(rt, body, key)  # type: ignore[no-any-return]

    @api.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @api.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        """Readiness: started, and every route's pool has a usable replica."""
        problems = []
        for name, route in rt.routes.items():
            pool = rt.pools[route.config.upstream]
            chain = [pool]
            while chain[-1].config.fallback and len(chain) < 4:
                chain.append(rt.pools[chain[-1].config.fallback])
            usable = [
                p
                for p in chain
                if not p.is_http or any(r.healthy and not r.drained for r in p.replicas)
            ]
            if not usable:
                problems.append(f"route {name}: no healthy replica in pool {pool.name}")
        if not rt.started:
            problems.append("starting")
        status = 503 if problems else 200
        return JSONResponse(
            {"status": "ready" if not problems else "not ready", "problems": problems},
            status_code=status,
        )

    @api.get("/metrics", tags=["ops"])
    async def metrics() -> Response:
        """Prometheus metrics."""
        return Response(
            rt.metrics.render(list(rt.pools.values())),
            media_type="text/plain; version=0.0.4; charset=utf-8",
        )

    @api.get("/admin/upstreams", tags=["admin"])
    async def upstreams(_key: Admin) -> dict[str, Any]:
        """Show pools, replicas, health and breakers."""
        return {"upstreams": [p.status() for p in rt.pools.values()]}

    def _replica(pool: str, replica: str) -> Any:
        found = rt.pools.get(pool)
        rep = next((r for r in found.replicas if r.name == replica), None) if found else None
        if rep is None:
            raise ApiError(
                404, f"no replica '{replica}' in upstream pool '{pool}'", code="not_found"
            )
        return rep

    @api.post("/admin/upstreams/{pool}/{replica}/drain", tags=["admin"])
    async def drain(pool: str, replica: str, _key: Admin) -> dict[str, Any]:
        """Stop sending new requests to a replica."""
        rep = _replica(pool, replica)
        rep.drained = True
        return rep.status()  # type: ignore[no-any-return]

    @api.post("/admin/upstreams/{pool}/{replica}/undrain", tags=["admin"])
    async def undrain(pool: str, replica: str, _key: Admin) -> dict[str, Any]:
        """Send requests to a drained replica again."""
        rep = _replica(pool, replica)
        rep.drained = False
        return rep.status()  # type: ignore[no-any-return]

    @api.post("/admin/reload", tags=["admin"])
    async def reload(_key: Admin) -> dict[str, Any]:
        """Re-read gateway.yaml (an invalid file is refused and the old config keeps serving)."""
        return await rt.reload()

    @api.post("/admin/traces/flush", tags=["admin"])
    async def flush(_key: Admin) -> dict[str, Any]:
        """Write queued traces now."""
        ok = await rt.in_thread(rt.writer.flush)
        return {"flushed": ok, "written": rt.writer.written}

    @api.post("/admin/index/{pipeline}/run", tags=["admin"])
    async def index_run(pipeline: str, _key: Admin, full: bool = False) -> dict[str, Any]:
        """Build or update a RAG index in this process (the gateway owns the embedded store)."""
        from llmops.rag import Pipeline

        pipe = Pipeline.from_name(pipeline, rt.settings)
        result = await rt.in_thread(pipe.run, full=full)
        return _jsonable(result)

    @api.post("/admin/index/{pipeline}/rollback", tags=["admin"])
    async def index_rollback(pipeline: str, _key: Admin, to: str | None = None) -> dict[str, Any]:
        """Serve the previous (or a given) index version again."""
        from llmops.rag import Pipeline

        pipe = Pipeline.from_name(pipeline, rt.settings)
        before, after = await rt.in_thread(pipe.rollback, to)
        return {"pipeline": pipeline, "from": before, "to": after}

    _document_fast_path(api)
    return api


def _default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)


def _jsonable(value: Any) -> dict[str, Any]:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")  # type: ignore[no-any-return]
    if hasattr(value, "__dataclass_fields__"):
        fields = {f: getattr(value, f) for f in value.__dataclass_fields__}
        return orjson.loads(orjson.dumps(fields, default=_default))  # type: ignore[no-any-return]
    return {"result": str(value)}


def _document_fast_path(api: FastAPI) -> None:
    """Add the completion endpoints (served by the raw fast path) to the OpenAPI document."""
    base = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is not None:
            return api.openapi_schema
        schema = base()
        error = {"description": 'OpenAI-style error: {"error": {message, type, param, code}}'}
        for path, model, summary in (
            (
                "/v1/chat/completions",
                ChatCompletionRequest,
                "Create a chat completion (SSE when stream=true)",
            ),
            ("/v1/completions", CompletionRequest, "Create a text completion"),
        ):
            schema.setdefault("components", {}).setdefault("schemas", {})[model.__name__] = (
                model.model_json_schema(ref_template="#/components/schemas/{model}")
            )
            schema["paths"][path] = {
                "post": {
                    "tags": ["openai"],
                    "summary": summary,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": f"#/components/schemas/{model.__name__}"}
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "OpenAI response; headers x-llmops-route, "
                            "x-llmops-prompt, x-llmops-index, x-llmops-upstream, x-request-id"
                        },
                        **{str(s): error for s in (400, 401, 403, 404, 413, 429, 502, 503, 504)},
                    },
                }
            }
        api.openapi_schema = schema
        return schema

    api.openapi = openapi  # type: ignore[method-assign]


class GatewayApp:
    """The ASGI entry point: completions go straight to the request path, the rest to FastAPI."""

    def __init__(self, runtime: GatewayRuntime) -> None:
        self.runtime = runtime
        self.api = create_api(runtime)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Any) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == "/v1/chat/completions" or path == "/v1/completions":
                if scope["method"] != "POST":
                    await send_json(
                        send,
                        405,
                        error_body("use POST", type_="invalid_request_error"),
                        [(b"allow", b"POST")],
                    )
                    return
                shape: Literal["chat", "text"] = (
                    "chat" if path == "/v1/chat/completions" else "text"
                )
                await handle_completion(self.runtime, scope, receive, send, shape)
                return
        await self.api(scope, receive, send)


def create_app(runtime: GatewayRuntime) -> Any:
    """Return the ASGI app (wrapped in CORS only when origins are configured)."""
    app: Any = GatewayApp(runtime)
    origins = runtime.config.server.cors_origins
    if origins:
        from starlette.middleware.cors import CORSMiddleware

        app = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type", "x-request-id"],
            expose_headers=[
                "x-request-id",
                "x-llmops-route",
                "x-llmops-prompt",
                "x-llmops-index",
                "x-llmops-upstream",
            ],
        )
    return app
