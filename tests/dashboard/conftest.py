"""Dashboard fixtures: a history of synthetic runs, a real headless Chromium (Debian's), and the
gateway tests' throwaway PostgreSQL server (one recipe, shared like tests/monitor and
tests/traces share it)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from dash_browser import CHROMIUM, CHROMIUM_ARGS, Tab  # noqa: E402
from dash_helpers import baseline_doc, lineage, make_run, record_changed_suite  # noqa: E402

from llmops.dashboard import History  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "traces"))
from gateway_fixtures import gateway_conftest  # noqa: E402

postgres_url = gateway_conftest.postgres_url


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
    record_changed_suite(hist, 40, lineage(dataset="e" * 64))
    return hist


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright (its own browser download cannot work offline).

    Module-scoped: Playwright's sync API holds an event loop on the main thread while it runs,
    and later modules call ``asyncio.run``.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def tab(browser: Any, request: pytest.FixtureRequest) -> Iterator[Tab]:
    t = Tab(browser, request.node.name)
    try:
        yield t
    finally:
        t.close()
