"""``POST /v1/monitor/events``: traces and feedback from applications that skip the gateway.

The front door authenticated and rate limited the caller and read the body within
``server.max_body_bytes``. The batch is validated whole (``llmops.traces.events``); one bad event
rejects it with 422 and its location, and nothing is stored. The work is in
``llmops.monitor.hooks.receive_events``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from llmops.gateway.access import Caller
from llmops.gateway.openapi import responses
from llmops.gateway.responses import ApiError
from llmops.traces.events import EventBatch, EventsAccepted

if TYPE_CHECKING:
    from llmops.gateway.runtime import GatewayRuntime

__all__ = ["router"]


def _rejected(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid events"}
    loc = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    err = ApiError(
        422, f"{loc}: {first['msg']}{more}; nothing was stored" if loc else str(first["msg"]),
        param=loc or None, code="invalid_event",
    )  # fmt: skip
    return JSONResponse({"error": err.payload()}, status_code=422)


class _EventsRoute(APIRoute):
    """Answer an invalid batch with 422 and its location (the gateway's default is 400)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _rejected(exc)

        return guarded


def router(rt: GatewayRuntime) -> APIRouter:
    """Return the monitor routes."""
    api = APIRouter(tags=["monitor"], route_class=_EventsRoute)

    @api.post(
        "/v1/monitor/events",
        response_model=EventsAccepted,
        responses=responses(401, 403, 413, 422, 429, 503),
    )
    async def monitor_events(batch: EventBatch, key: Caller) -> dict[str, Any]:
        """Store traces and feedback from applications that call models without the gateway.

        The batch is validated whole: one bad event rejects it with 422, nothing is stored.
        Keys need the ``monitor`` (or ``*``) scope.
        """
        from llmops.monitor.hooks import EventsRejected, receive_events

        try:
            return await receive_events(rt, batch, key)
        except EventsRejected as exc:
            raise ApiError(exc.status, exc.message, param=exc.param, code=exc.code) from None

    return api
