"""The gateway application: a raw ASGI front door in front of a FastAPI app.

The front door takes every request first: completions go straight to the request path
(``chat.py``); every other path that is not public is authenticated and rate limited
(``access.py``) before its body is read, with ``server.max_body_bytes`` as the limit, and
then handed to FastAPI (models, embeddings, predictions, admin, health, metrics, the OpenAPI
document). Route groups are listed in ``ROUTE_GROUPS``: add one there to serve more paths.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, MutableMapping
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from llmops import __version__
from llmops.errors import LLMOpsError
from llmops.gateway.access import admit, is_public, remember
from llmops.gateway.chat import handle_completion
from llmops.gateway.context import RequestContext
from llmops.gateway.error_map import api_error_for, http_error
from llmops.gateway.formats import Shape
from llmops.gateway.openapi import document
from llmops.gateway.responses import ApiError, send_json
from llmops.gateway.runtime import GatewayRuntime
from llmops.gateway.validate import Receive, precheck_json, read_body, validation_error

__all__ = ["ROUTE_GROUPS", "GatewayApp", "create_api", "create_app"]


def _groups() -> list[Callable[[GatewayRuntime], APIRouter]]:
    from llmops.dashboard.server import make_dashboard_router
    from llmops.gateway import routes_admin, routes_monitor, routes_ops, routes_v1

    return [
        routes_ops.router,
        routes_v1.router,
        routes_admin.router,
        routes_monitor.router,
        make_dashboard_router,
    ]


#: Route groups served by FastAPI, each a ``(runtime) -> APIRouter`` factory.
ROUTE_GROUPS: list[Callable[[GatewayRuntime], APIRouter]] = _groups()

#: The completion fast path: path -> answer shape.
FAST_PATHS: dict[str, Shape] = {"/v1/chat/completions": "chat", "/v1/completions": "text"}
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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

    @api.exception_handler(StarletteHTTPException)
    async def _routing(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        allow = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow")
        return _error_response(http_error(exc.status_code, request.method, request.url.path, allow))

    @api.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error_response(validation_error(exc.errors()))

    async def _mapped(request: Request, exc: Exception) -> JSONResponse:
        return _error_response(api_error_for(exc, request.headers.get("x-request-id")))

    # Known errors are answered by the exception middleware; anything else (a bug) also
    # reaches Starlette's server-error middleware, which logs it after the same answer.
    for kind in (ApiError, LLMOpsError, Exception):
        api.add_exception_handler(kind, _mapped)

    for group in ROUTE_GROUPS:
        api.include_router(group(rt))
    document(api)
    return api


class GatewayApp:
    """The ASGI entry point: the front door described in the module docstring."""

    def __init__(self, runtime: GatewayRuntime) -> None:
        self.runtime = runtime
        self.api = create_api(runtime)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Any) -> None:
        if scope["type"] != "http":
            await self.api(scope, receive, send)
            return
        path = scope["path"]
        shape = FAST_PATHS.get(path)
        if shape is not None:
            if scope["method"] == "POST":
                ctx = RequestContext.open(self.runtime, scope, receive, send, shape)
                await handle_completion(ctx)
                return
            err = http_error(405, scope["method"], path, "POST")
            await send_json(send, 405, err.body(), [(b"allow", b"POST")])
            return
        if not is_public(path):
            admitted = await self._admit(scope, receive, send)
            if admitted is None:
                return
            receive = admitted
        await self.api(scope, receive, send)

    async def _admit(self, scope: dict[str, Any], receive: Receive, send: Any) -> Receive | None:
        """Authenticate, rate-limit and read the body (bounded); None when answered already."""
        rt = self.runtime
        headers = dict(scope["headers"])
        try:
            remember(scope, admit(rt, headers.get(b"authorization"), scope["path"]))
            if scope["method"] not in _BODY_METHODS:
                return receive
            body = await read_body(receive, headers, rt.config.server.max_body_bytes)
            precheck_json(body)
        except ApiError as err:
            extra = [(k.encode(), v.encode()) for k, v in err.headers.items()]
            await send_json(send, err.status, err.body(), extra)
            return None
        return _replay(body, receive)


def _replay(body: bytes, receive: Receive) -> Receive:
    """Return a receive() that gives ``body`` once, then waits on the client as before."""
    sent = False

    async def replay() -> MutableMapping[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


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
