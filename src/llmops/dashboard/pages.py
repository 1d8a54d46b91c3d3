"""Pluggable dashboard pages: a page is an id, a title and panels computed from a data provider.

Built-in pages register like third-party ones would (``register_page("monitor", "module:attr")``),
and are created lazily from the settings, so the eval-only dashboard never imports what a page
needs. A panel is a small JSON document the page script draws::

    {"id": ..., "title": ..., "kind": "intervals" | "bars" | "table",
     "rows": [{"label", "value", "low", "high", "alert"}],     # intervals / bars
     "table": {"columns": [...], "rows": [[...], ...]}, "note": ..., "empty": ...,
     "wide": true}                                               # optional: a full-width card
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from llmops.registry import Registry

if TYPE_CHECKING:
    from llmops.config import Settings

__all__ = ["Page", "PageFactory", "available_pages", "create_pages", "register_page"]


@runtime_checkable
class Page(Protocol):
    """One dashboard page."""

    id: str
    title: str

    def panels(self) -> list[dict[str, Any]]:
        """Return the page's panels (computed now, from live data)."""
        ...


PageFactory = Callable[["Settings", dict[str, Any]], Page | None]

_PAGES: Registry[PageFactory] = Registry(
    "dashboard page", builtins={"monitor": "llmops.dashboard.monitor_page:create_monitor_page"}
)


def register_page(name: str, factory: str | PageFactory) -> None:
    """Register a page factory (or a ``module:attr`` string naming one)."""
    _PAGES.register(name, factory)


def available_pages() -> list[str]:
    """Return the registered page names."""
    return _PAGES.names()


def create_pages(
    names: list[str], settings: Settings, options: dict[str, Any] | None = None
) -> list[Page]:
    """Create the named pages (a factory may return None when its data source is absent)."""
    pages = []
    for name in names:
        page = _PAGES.get(name)(settings, dict(options or {}))
        if page is not None:
            pages.append(page)
    return pages
