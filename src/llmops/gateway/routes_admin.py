"""Admin routes: upstream pools, config reload, trace flush, and the work that needs the stores
this process owns (index builds, rollbacks, status and retrieval queries for the CLI).

Every route needs a key with the ``admin`` scope, or the local admin credential the gateway
writes for the CLI on this machine (``credential.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from llmops.gateway.access import Admin
from llmops.gateway.openapi import responses
from llmops.gateway.responses import ApiError

if TYPE_CHECKING:
    from llmops.gateway.runtime import GatewayRuntime

__all__ = ["IndexRequest", "QueryRequest", "RollbackRequest", "router"]

_ERRORS = responses(400, 401, 403, 404, 413, 500, 503)


class IndexRequest(BaseModel):
    """Build a pipeline's index."""

    model_config = ConfigDict(extra="forbid")

    pipeline: str = Field(min_length=1, description="pipeline name or pipeline file path")
    full: bool = False
    allow_shrink: bool = Field(
        default=False, description="switch even if the build empties or shrinks the served index"
    )


class RollbackRequest(BaseModel):
    """Serve an older index version."""

    model_config = ConfigDict(extra="forbid")

    pipeline: str = Field(min_length=1, description="pipeline name or pipeline file path")
    to: str | None = None


class QueryRequest(BaseModel):
    """Retrieve from a served index (``llmops query`` while the gateway runs)."""

    model_config = ConfigDict(extra="forbid")

    pipeline: str = Field(min_length=1, description="pipeline name or pipeline file path")
    query: str
    k: int = Field(5, ge=1, le=100)
    filters: dict[str, Any] | None = None
    hybrid: bool = False
    mmr: bool = False


def _default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)


def _jsonable(value: Any) -> dict[str, Any]:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")  # type: ignore[no-any-return]
    fields = {f: getattr(value, f) for f in value.__dataclass_fields__}
    return orjson.loads(orjson.dumps(fields, default=_default))  # type: ignore[no-any-return]


def router(rt: GatewayRuntime) -> APIRouter:
    """Return the admin routes."""
    api = APIRouter(tags=["admin"], responses=_ERRORS)

    def resolve(ref: str) -> Any:
        from llmops.rag.pipeline import Pipeline

        return Pipeline.resolve(ref, rt.settings)

    @api.get("/admin/upstreams")
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

    @api.post("/admin/upstreams/{pool}/{replica}/drain")
    async def drain(pool: str, replica: str, _key: Admin) -> dict[str, Any]:
        """Stop sending new requests to a replica."""
        rep = _replica(pool, replica)
        rep.drained = True
        return rep.status()  # type: ignore[no-any-return]

    @api.post("/admin/upstreams/{pool}/{replica}/undrain")
    async def undrain(pool: str, replica: str, _key: Admin) -> dict[str, Any]:
        """Send requests to a drained replica again."""
        rep = _replica(pool, replica)
        rep.drained = False
        return rep.status()  # type: ignore[no-any-return]

    @api.post("/admin/reload")
    async def reload(_key: Admin) -> dict[str, Any]:
        """Re-read gateway.yaml (an invalid file is refused and the old config keeps serving)."""
        return await rt.reload()

    @api.post("/admin/traces/flush")
    async def flush(_key: Admin) -> dict[str, Any]:
        """Write queued traces now."""
        ok = await rt.in_thread(rt.writer.flush)
        return {"flushed": ok, "written": rt.writer.written}

    @api.post("/admin/index/run")
    async def index_run(req: IndexRequest, _key: Admin) -> dict[str, Any]:
        """Build or update a RAG index in this process (the gateway owns the embedded store)."""
        pipe = await rt.in_thread(resolve, req.pipeline)
        build = await rt.in_thread(pipe.run, full=req.full, allow_shrink=req.allow_shrink)
        return _jsonable(build)

    @api.post("/admin/index/{pipeline_name}/run", deprecated=True)
    async def index_run_named(
        pipeline_name: str, _key: Admin, full: bool = False
    ) -> dict[str, Any]:
        """Build or update a RAG index (use POST /admin/index/run)."""
        return await index_run(IndexRequest(pipeline=pipeline_name, full=full), _key)

    @api.post("/admin/index/rollback")
    async def index_rollback(req: RollbackRequest, _key: Admin) -> dict[str, Any]:
        """Serve the previous (or a given) index version again."""
        pipe = await rt.in_thread(resolve, req.pipeline)
        before, after = await rt.in_thread(pipe.rollback, req.to)
        return {"pipeline": pipe.name, "from": before, "to": after}

    @api.post("/admin/index/{pipeline_name}/rollback", deprecated=True)
    async def index_rollback_named(
        pipeline_name: str, _key: Admin, to: str | None = None
    ) -> dict[str, Any]:
        """Serve an older index version (use POST /admin/index/rollback)."""
        return await index_rollback(RollbackRequest(pipeline=pipeline_name, to=to), _key)

    @api.get("/admin/index/served")
    async def index_served(pipeline: str, _key: Admin) -> dict[str, Any]:
        """Return the index version a pipeline's alias serves (null when none)."""

        def served() -> dict[str, Any]:
            pipe = resolve(pipeline)
            manifest = pipe.served()
            return {
                "pipeline": pipe.name,
                "served_version": manifest.index_version if manifest else None,
            }

        return await rt.in_thread(served)  # type: ignore[no-any-return]

    @api.post("/admin/query")
    async def query(req: QueryRequest, _key: Admin) -> dict[str, Any]:
        """Retrieve ranked chunks from a served index (what ``llmops query`` prints)."""

        def run() -> dict[str, Any]:
            from llmops.rag import Retriever

            retriever = Retriever.from_pipeline(req.pipeline, rt.settings)
            result = retriever.retrieve(
                req.query, k=req.k, filters=req.filters, hybrid=req.hybrid, mmr=req.mmr
            )
            return result.model_dump(mode="json")

        return await rt.in_thread(run)  # type: ignore[no-any-return]

    return api
