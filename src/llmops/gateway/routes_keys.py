"""Admin routes for API keys and the shared state: list keys, revoke and restore them.

A revocation takes effect at once on this replica and, with ``shared_state.backend: redis``,
on every replica using the same Redis (their next request asks it). With ``memory`` it is
kept in ``<state>/gateway/revoked-keys.json``. To retire a key for good, also remove it from
the keys file and reload.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from llmops.gateway.access import Admin
from llmops.gateway.openapi import responses
from llmops.gateway.responses import ApiError
from llmops.gateway.shared_state import SharedStateDownError

if TYPE_CHECKING:
    from llmops.gateway.runtime import GatewayRuntime

__all__ = ["router"]

_ERRORS = responses(401, 403, 404, 503)


def router(rt: GatewayRuntime) -> APIRouter:
    """Return the key and shared-state admin routes."""
    api = APIRouter(tags=["admin"], responses=_ERRORS)

    def digests(key_id: str) -> list[str]:
        found = rt.keys.digests_of(key_id)
        if not found:
            known = ", ".join(sorted({k.id for k in rt.keys.stored()})) or "none"
            raise ApiError(404, f"no stored API key '{key_id}' (known: {known})", code="not_found")
        return found

    def listing(key_id: str) -> dict[str, Any]:
        found = rt.keys.digests_of(key_id)
        return {"id": key_id, "revoked": bool(found) and all(d in rt.revocations for d in found)}

    async def change(key_id: str, revoke: bool) -> dict[str, Any]:
        shared = rt.limiter.shared
        for digest in digests(key_id):
            if shared is None:
                (rt.revocations.add if revoke else rt.revocations.discard)(digest)
                continue
            try:
                await (shared.revoke if revoke else shared.restore)(digest)
            except SharedStateDownError as exc:
                raise ApiError(
                    503,
                    f"not {'revoked' if revoke else 'restored'}: {exc} (other replicas "
                    "would not know); retry when the shared state answers",
                    code="shared_state_unavailable",
                ) from None
        return {**listing(key_id), "shared": shared.backend if shared else "memory"}

    @api.get("/admin/keys")
    async def keys(_key: Admin) -> dict[str, Any]:
        """List the stored keys (ids and scopes, never hashes) and which are revoked."""
        ids = sorted({k.id for k in rt.keys.stored()})
        scopes = {k.id: sorted(k.scopes) for k in rt.keys.stored()}
        return {"keys": [{**listing(i), "scopes": scopes[i]} for i in ids]}

    @api.post("/admin/keys/{key_id}/revoke")
    async def revoke(key_id: str, _key: Admin) -> dict[str, Any]:
        """Refuse this key from now on, on every replica sharing this gateway's state."""
        return await change(key_id, True)

    @api.post("/admin/keys/{key_id}/restore")
    async def restore(key_id: str, _key: Admin) -> dict[str, Any]:
        """Accept a revoked key again."""
        return await change(key_id, False)

    @api.get("/admin/shared")
    async def shared_status(_key: Admin) -> dict[str, Any]:
        """Show where rate limits and revocations are kept and whether that store answers."""
        shared = rt.limiter.shared
        if shared is None:
            return {"backend": "memory", "revoked_keys": len(rt.revocations)}
        return shared.status()

    return api
