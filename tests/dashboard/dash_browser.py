"""Debian's chromium driven by Playwright: a page that records errors, requests and dialogs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"


class Tab:
    """A browser page that records console errors and every request, and takes screenshots."""

    def __init__(self, browser: Any, name: str, **context: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1360, "height": 900}, **context)
        self.page = self.context.new_page()
        self.name = name
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

        def guard(route: Any) -> None:
            url = route.request.url
            if url.startswith(("file://", "http://127.0.0.1", "data:", "about:")):
                route.continue_()
            else:
                route.abort()

        self.page.route("**/*", guard)

    def shot(self, label: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def outside(self) -> list[str]:
        return [
            u
            for u in self.requests
            if not u.startswith(("file://", "http://127.0.0.1", "data:", "about:"))
        ]

    def close(self) -> None:
        self.context.close()
