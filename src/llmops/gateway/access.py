"""Who may call what: the gateway's one authentication step, taken at the front door.

Every path that is not public needs a caller (``KeyStore.caller``: a valid key, or anonymous
with auth off); ``/v1/`` paths share the per-key rate limit. The front door does this before a
request body is read, then reads the body with ``server.max_body_bytes`` as the limit. FastAPI
routes get the caller from the request state (``Caller``, ``Admin``) instead of
authenticating again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from llmops.gateway.auth import ApiKey

if TYPE_CHECKING:
    from llmops.gateway.runtime import GatewayRuntime

__all__ = ["PUBLIC_PATHS", "RATE_LIMITED", "Admin", "Caller", "admit", "is_public"]

#: Paths anyone may call, with or without a key. Everything else needs a caller.
PUBLIC_PATHS: set[str] = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
}
#: Path prefixes whose routes check their caller themselves: the dashboard accepts an admin key
#: or a session cookie (browsers following a link cannot send Authorization headers).
SELF_AUTHENTICATED: tuple[str, ...] = ("/dashboard",)
#: Path prefixes that share the per-key request and token buckets.
RATE_LIMITED: tuple[str, ...] = ("/v1/",)
_STATE_KEY = "llmops_key"


def is_public(path: str) -> bool:
    """Return True for paths that need no caller."""
    return path in PUBLIC_PATHS or path.startswith(SELF_AUTHENTICATED)


async def admit(rt: GatewayRuntime, authorization: bytes | None, path: str) -> ApiKey:
    """Return the caller of ``path`` after the rate limit; raise the 401/429/503 ApiError."""
    key = rt.keys.caller(authorization)
    await rt.limiter.admit(key, limited=path.startswith(RATE_LIMITED))
    return key


def remember(scope: dict[str, object], key: ApiKey) -> None:
    """Keep the admitted caller in the request state for the FastAPI routes."""
    state = scope.setdefault("state", {})
    if isinstance(state, dict):
        state[_STATE_KEY] = key


def _caller(request: Request) -> ApiKey:
    key = getattr(request.state, _STATE_KEY, None)
    if isinstance(key, ApiKey):
        return key
    # A public route that asks for its caller: the same one step, without a rate limit.
    rt: GatewayRuntime = request.app.state.runtime
    return rt.keys.caller(request.headers.get("authorization"))


def _admin(request: Request, key: Annotated[ApiKey, Depends(_caller)]) -> ApiKey:
    rt: GatewayRuntime = request.app.state.runtime
    rt.keys.require_admin(key)
    return key


#: The admitted caller of a FastAPI route.
Caller = Annotated[ApiKey, Depends(_caller)]
#: The admitted caller, who must hold the admin scope (403 otherwise).
Admin = Annotated[ApiKey, Depends(_admin)]
