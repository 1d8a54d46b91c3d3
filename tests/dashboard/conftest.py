"""Dashboard fixtures: a history of synthetic runs, and a real headless Chromium (Debian's)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from dash_helpers import baseline_doc, lineage, make_run  # noqa: E402

from llmops.dashboard import History  # noqa: E402

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


@pytest.fixture
def history(tmp_path: Path) -> History:
    """Two suites: `support` regressed in one slice (comparable), `billing` changed its dataset."""
    hist = History(tmp_path / "history.sqlite")
    first = make_run(240, seed=1, started="2026-12-01T10:00:00+00:00")
    hist.record(first)
    second = make_run(
        240,
        seed=2,
        started="2026-12-02T10:00:00+00:00",
        shift={"returns": 0.3},
        repeats=2,
        lin=lineage(commit="beef" + "0" * 36),
    )
    hist.record(second, baseline=baseline_doc(first))
    hist.record(make_run(40, seed=3, suite="billing", started="2026-12-01T09:00:00+00:00"))
    hist.record(
        make_run(
            40,
            seed=4,
            suite="billing",
            started="2026-12-03T09:00:00+00:00",
            lin=lineage(dataset="e" * 64),
        )
    )
    return hist


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright (its own browser download cannot work offline)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Tab:
    """A browser page that records console errors and every request, and takes screenshots."""

    def __init__(self, browser: Any, name: str, **context: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1360, "height": 900}, **context)
        self.page = self.context.new_page()
        self.name = name
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on(
            "console", lambda m: self.errors.append(m.text) if m.type == "error" else None
        )
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


@pytest.fixture
def tab(browser: Any, request: pytest.FixtureRequest) -> Iterator[Tab]:
    t = Tab(browser, request.node.name)
    try:
        yield t
    finally:
        t.close()
