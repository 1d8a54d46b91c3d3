"""Operations routes: liveness, readiness and Prometheus metrics (public, no key)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from llmops.gateway.openapi import Health, Readiness, responses

if TYPE_CHECKING:
    from llmops.gateway.runtime import GatewayRuntime

__all__ = ["router"]

_PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"


def router(rt: GatewayRuntime) -> APIRouter:
    """Return the operations routes."""
    api = APIRouter(tags=["ops"])

    @api.get("/healthz", response_model=Health)
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @api.get(
        "/readyz",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "not ready; `problems` says why"}},
    )
    async def readyz() -> JSONResponse:
        """Readiness: started, the embedding model loaded, every route has a usable replica."""
        problems = rt.readiness()
        return JSONResponse(
            {"status": "not ready" if problems else "ready", "problems": problems},
            status_code=503 if problems else 200,
        )

    @api.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses=responses(
            ok={
                "description": "Prometheus text exposition format 0.0.4",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        ),
    )
    async def metrics() -> Response:
        """Prometheus metrics."""
        return Response(rt.metrics.render(list(rt.pools.values())), media_type=_PROMETHEUS)

    return api
