"""The dashboard served by the gateway at ``/dashboard``, behind the admin scope.

The page is the static dashboard's renderer fed from the live stores at request time; item pages
come from ``/dashboard/api/items`` with keyset pagination (``after`` is the last row's sort key,
never an offset), and the monitor page shows ``llmops.monitor``'s signals (rollups and the
scored sample).

Browsers cannot send ``Authorization`` headers when following a link, so an admin key may also be
exchanged once at ``POST /dashboard/login`` for a session cookie (HttpOnly, SameSite=Strict,
path /dashboard, random, held only in this process, expiring). Both paths apply the gateway's own
rule: auth enabled, and a key with the ``admin`` scope.
"""

from __future__ import annotations

import html
import secrets
import time
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from llmops.dashboard.history import History
    from llmops.dashboard.pages import Page
    from llmops.gateway.auth import ApiKey, KeyStore

__all__ = ["DashboardSessions", "make_dashboard_router"]

COOKIE = "llmops_dashboard"
SESSION_SECONDS = 8 * 3600
MAX_PAGE = 500


class ItemsParams(BaseModel):
    """Query parameters of ``GET /items``: the run, its filters and the keyset page."""

    run: str
    tag: str | None = None
    metric: str | None = None
    status: str | None = None
    flaky: bool = False
    q: str | None = None
    after: str | None = None
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)


LOGIN = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>llmops dashboard</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; form-action 'self'">
<style>body{{font:14px system-ui,sans-serif;margin:15vh auto;max-width:420px}}input{{font:inherit;width:100%;padding:6px;margin:6px 0}}
button{{font:inherit;padding:6px 14px}}.err{{color:#cf222e}}</style></head><body>
<h1>llmops dashboard</h1><p>Sign in with an API key that has the <code>admin</code> scope.</p>
{message}<form method="post" action="/dashboard/login"><input type="password" name="key" autocomplete="off" placeholder="API key" required>
<button type="submit">Sign in</button></form></body></html>"""


class DashboardSessions:
    """Session cookies for the dashboard: random ids mapped to key ids, with an expiry."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._sessions: dict[str, tuple[str, float]] = {}

    def open(self, key_id: str) -> str:
        """Return a new session id for ``key_id``."""
        now = self.clock()
        self._sessions = {k: v for k, v in self._sessions.items() if v[1] > now}
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = (key_id, now + SESSION_SECONDS)
        return sid

    def key_id(self, sid: str | None) -> str | None:
        """Return the key id of a live session."""
        found = self._sessions.get(sid or "")
        if found is None or found[1] <= self.clock():
            return None
        return found[0]


class _Denied(Exception):
    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def _login_page(status: int, message: str = "") -> HTMLResponse:
    note = f'<p class="err">{html.escape(message)}</p>' if message else ""
    return HTMLResponse(LOGIN.format(message=note), status_code=status)


def make_dashboard_router(
    runtime: Any,
    *,
    history: History | None = None,
    pages: Callable[[], list[Page]] | None = None,
    sessions: DashboardSessions | None = None,
) -> APIRouter:
    """Return the router serving ``/dashboard`` for a gateway runtime (settings, keys, store)."""
    from llmops.dashboard.history import History

    settings = runtime.settings
    store = History.for_state(settings.state_path) if history is None else history
    sessions = sessions or DashboardSessions()

    built: list[Page] = []
    if pages is None and getattr(runtime, "store", None) is not None:
        # Built with the gateway, its imports paid at start: the monitors' rollups are kept at
        # write time, so nothing else is left for the first request to do.
        from llmops.dashboard.monitor_page import MonitorPage, MonitorProvider

        MonitorProvider.preload()
        built.append(MonitorPage(MonitorProvider(runtime.store, settings)))

    def live_pages() -> list[Page]:
        return pages() if pages is not None else built

    def authorise(request: Request) -> ApiKey:
        keys: KeyStore = runtime.keys
        if not keys.enabled:
            raise _Denied(
                403,
                "the dashboard needs auth: set auth.enabled and give a key the 'admin' scope",
                "admin_disabled",
            )
        key = keys.authenticate(request.headers.get("authorization"))
        if key is None:
            key_id = sessions.key_id(request.cookies.get(COOKIE))
            key = keys.by_id(key_id) if key_id else None
        if key is None:
            raise _Denied(401, "missing or invalid API key", "invalid_api_key")
        if not key.is_admin:
            raise _Denied(403, f"key '{key.id}' lacks the 'admin' scope", "insufficient_scope")
        return key

    def admin_json(request: Request) -> ApiKey:
        try:
            return authorise(request)
        except _Denied as exc:
            from llmops.gateway.responses import ApiError

            raise ApiError(exc.status, exc.message, code=exc.code) from None

    from llmops.gateway.openapi import responses

    router = APIRouter(tags=["dashboard"])
    # Every data endpoint sits behind the admin check; the page and sign-in handle it themselves.
    api = APIRouter(
        prefix="/dashboard/api",
        dependencies=[Depends(admin_json)],
        responses=responses(400, 401, 403, 404),
    )

    html_page = {"description": "the dashboard page", "content": {"text/html": {}}}

    @router.get("/dashboard", include_in_schema=True, responses=responses(401, 403, ok=html_page))
    async def page(request: Request) -> Response:
        """The dashboard (admin scope; a browser without a session is sent to sign in)."""
        try:
            authorise(request)
        except _Denied as exc:
            browser = "text/html" in request.headers.get("accept", "")
            if exc.status == 401 and browser:
                return RedirectResponse("/dashboard/login", status_code=303)
            if browser:
                return _login_page(exc.status, exc.message)
            from llmops.gateway.responses import ApiError

            raise ApiError(exc.status, exc.message, code=exc.code) from None
        body = await runtime.in_thread(_render_live, store, live_pages)
        return HTMLResponse(body, headers={"cache-control": "no-store"})

    @router.get("/dashboard/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_form() -> Response:
        return _login_page(200)

    @router.post("/dashboard/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
        token = (form.get("key") or [""])[0]
        key = runtime.keys.authenticate(f"Bearer {token}") if runtime.keys.enabled else None
        if key is None:
            return _login_page(401, "unknown key")
        if not key.is_admin:
            return _login_page(403, f"key '{key.id}' lacks the 'admin' scope")
        response = RedirectResponse("/dashboard", status_code=303)
        response.set_cookie(
            COOKIE,
            sessions.open(key.id),
            max_age=SESSION_SECONDS,
            path="/dashboard",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @api.get("/items")
    async def items(params: Annotated[ItemsParams, Query()]) -> JSONResponse:
        """One page of a run's items, most regressed first; ``next`` is the keyset cursor."""
        from llmops.dashboard.runs import ItemQuery

        p = params
        cursor = _cursor(p.after)
        query = ItemQuery(tag=p.tag, metric=p.metric, status=p.status, flaky=p.flaky, search=p.q)
        found, nxt, total = await runtime.in_thread(
            store.page, p.run, query, after=cursor, limit=p.limit
        )
        return JSONResponse(
            {
                "items": found,
                "next": None if nxt is None else f"{nxt[0]!r}:{nxt[1]}",
                "total": total,
            },
            headers={"cache-control": "no-store"},
        )

    @api.get("/item")
    async def item(run: str, seq: int) -> JSONResponse:
        """One item in full (redacted)."""
        row = await runtime.in_thread(store.item, run, seq)
        if row is None:
            from llmops.gateway.responses import ApiError

            raise ApiError(404, f"no item {seq} in run '{run}'", code="not_found")
        return JSONResponse(row, headers={"cache-control": "no-store"})

    @api.get("/pages/{page_id}")
    async def page_panels(page_id: str) -> JSONResponse:
        """A page's panels, computed now."""
        for found in await runtime.in_thread(live_pages):
            if found.id == page_id:
                panels = await runtime.in_thread(found.panels)
                return JSONResponse({"id": found.id, "title": found.title, "panels": panels})
        from llmops.gateway.responses import ApiError

        raise ApiError(404, f"no dashboard page '{page_id}'", code="not_found")

    router.include_router(api)
    return router


def _cursor(after: str | None) -> tuple[float, int] | None:
    if not after:
        return None
    delta, _, seq = after.rpartition(":")
    try:
        return float(delta), int(seq)
    except ValueError:
        from llmops.gateway.responses import ApiError

        raise ApiError(400, "after: not a cursor from a previous page", param="after") from None


def _render_live(store: History, pages: Callable[[], list[Page]]) -> str:
    from llmops.dashboard.build import BuildOptions, build_payload
    from llmops.dashboard.html import render_html

    payload = build_payload(store, BuildOptions(embed_items=False), pages=pages())
    payload["meta"].update(mode="live", api="/dashboard/api")
    return render_html(payload, live=True)
