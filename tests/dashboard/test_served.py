"""The dashboard served by the real gateway under uvicorn: admin scope, keyset pagination, and
the same page in headless Chromium reading live from the stores."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dash_browser import Tab
from dash_helpers import baseline_doc, lineage, make_run, record_changed_suite
from monitor_traffic import BLOCKED, MONITOR, N_NOW, monitored
from playwright.sync_api import expect

from llmops.dashboard import History
from llmops.gateway.auth import hash_key
from llmops.testing import ScriptedLLMServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))
from gateway_helpers import http_pool, running_gateway  # noqa: E402

OPS = {"authorization": "Bearer sk-ops"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, History]]:
    root = tmp_path_factory.mktemp("served")
    home = root / "home"
    (root / "llmops.yaml").write_text(json.dumps({"project": "served", "monitor": MONITOR}))
    (root / "serving").mkdir()
    keys = {
        "keys": [
            {"id": "ops", "sha256": hash_key("sk-ops"), "scopes": ["*", "admin"]},
            {"id": "web", "sha256": hash_key("sk-web"), "scopes": ["*"]},
        ]
    }
    (root / "serving" / "keys.yaml").write_text(json.dumps(keys))
    history = History.for_state(home)
    first = make_run(150, seed=1, started="2026-12-01T10:00:00+00:00")
    history.record(first)
    history.record(
        make_run(150, seed=2, started="2026-12-02T10:00:00+00:00", shift={"returns": 0.3}),
        baseline=baseline_doc(first),
    )
    record_changed_suite(history, 20, lineage(judge="other"))
    traces = f"sqlite:///{root / 'traces.db'}"
    monitored(traces).store.close()  # written by the trace writer, scored by the monitor
    with ScriptedLLMServer(latency=0.0) as upstream:
        config = {
            "auth": {"enabled": True, "keys_file": "serving/keys.yaml"},
            "upstreams": {"up": http_pool(upstream.base_url)},
            "routes": {"chat": {"upstream": "up"}},
            "traces": {"url": traces},
        }
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("LLMOPS_HOME", str(home))
            with running_gateway(config, root=root) as gw:
                yield gw.url, history


def test_dashboard_needs_the_admin_scope(served: tuple[str, History]) -> None:
    url, history = served
    run_id = history.runs("support")[-1].run_id
    anonymous = httpx.get(url + "/dashboard")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "invalid_api_key"
    html = {"accept": "text/html"}
    browser = httpx.get(url + "/dashboard", headers=html, follow_redirects=True)
    assert browser.url.path == "/dashboard/login" and "Sign in" in browser.text
    assert run_id not in browser.text  # the sign-in form holds no data
    web = httpx.get(url + "/dashboard", headers={"authorization": "Bearer sk-web", **html})
    assert web.status_code == 403 and "lacks the &#x27;admin&#x27; scope" in web.text
    api = httpx.get(url + "/dashboard/api/items", params={"run": run_id})
    assert api.status_code == 401 and api.json()["error"]["code"] == "invalid_api_key"
    api = httpx.get(
        url + "/dashboard/api/items",
        params={"run": run_id},
        headers={"authorization": "Bearer sk-web"},
    )
    assert api.status_code == 403 and api.json()["error"]["code"] == "insufficient_scope"
    ok = httpx.get(url + "/dashboard", headers=OPS)
    assert ok.status_code == 200 and run_id in ok.text
    assert ok.headers["cache-control"] == "no-store"
    bad = httpx.post(
        url + "/dashboard/login",
        content="key=sk-nope",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert bad.status_code == 401 and COOKIE not in bad.headers.get("set-cookie", "")


COOKIE = "llmops_dashboard"


def test_api_pages_with_a_keyset_cursor(served: tuple[str, History]) -> None:
    url, history = served
    run_id = history.runs("support")[-1].run_id
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        params = {"run": run_id, "limit": 17, **({"after": after} if after else {})}
        body = httpx.get(url + "/dashboard/api/items", params=params, headers=OPS).json()
        seen += body["items"]
        after = body["next"]
        if after is None:
            break
    assert body["total"] == 150 and len({b["seq"] for b in seen}) == 150
    deltas = [9.0 if b["delta"] is None else b["delta"] for b in seen]
    assert deltas == sorted(deltas)
    tagged = httpx.get(
        url + "/dashboard/api/items",
        params={"run": run_id, "tag": "returns", "limit": 500},
        headers=OPS,
    ).json()
    assert tagged["total"] == len(tagged["items"]) and all(
        "returns" in b["tags"] for b in tagged["items"]
    )
    item = httpx.get(
        url + "/dashboard/api/item", params={"run": run_id, "seq": seen[0]["seq"]}, headers=OPS
    ).json()
    assert item["id"] == seen[0]["id"] and item["output"]["contexts"]
    assert (
        httpx.get(
            url + "/dashboard/api/items", params={"run": run_id, "after": "x"}, headers=OPS
        ).status_code
        == 400
    )
    assert (
        httpx.get(
            url + "/dashboard/api/item", params={"run": run_id, "seq": 9999}, headers=OPS
        ).status_code
        == 404
    )
    monitor = httpx.get(url + "/dashboard/api/pages/monitor", headers=OPS).json()
    panels = {p["id"]: p for p in monitor["panels"]}
    assert panels["guards"]["table"]["rows"][0][:3] == ["qa", BLOCKED, N_NOW]
    assert {r[1] for r in panels["arms"]["table"]["rows"]} == {"canary", "stable"}
    labels = [r["label"] for r in panels["hallucination"]["rows"]]
    assert labels == ["qa · unsupported (groundedness)", "qa · rag-answer@2"]
    drift = {r[1]: r for r in panels["drift"]["table"]["rows"]}
    assert float(drift["top1_drift"][6]) < 0.01


def test_served_page_in_chromium(browser: Any, served: tuple[str, History]) -> None:
    url, history = served
    tab = Tab(browser, "served")
    try:
        page = tab.page
        page.goto(url + "/dashboard")
        page.fill("input[name=key]", "sk-ops")
        page.click("button[type=submit]")
        page.wait_for_selector("body[data-ready=overview]")
        assert page.locator("svg.chart circle.pt").count() >= 8
        tab.shot("overview")
        page.click("button[data-tab=compare]")
        refusal = page.locator('.comparison[data-verdict="refused"] .refusal')
        expect(refusal).to_contain_text("different judge")
        page.click("button[data-tab=items]")
        page.select_option("select >> nth=0", "support")
        expect(page.locator("#item-count")).to_have_text("showing 50 of 150 matching items")
        page.click("button.more")  # the next keyset page, fetched from the API
        expect(page.locator("#item-count")).to_have_text("showing 100 of 150 matching items")
        assert page.locator("#items tr.row").count() == 100
        page.select_option("select[data-filter=tag]", "returns")
        expect(page.locator("#item-count")).to_contain_text("showing 37 of 37 matching")
        page.locator("#items tr.row").first.click()
        drawer = page.locator("#drawer")
        expect(drawer).to_contain_text("Retrieved contexts (2)")
        expect(drawer).to_contain_text("judge-model")
        tab.shot("drilldown")
        page.click("button[data-tab=monitor]")
        page.wait_for_selector("body[data-ready=monitor]")
        assert page.locator(".panel").count() == 6
        hallucination = page.locator('.panel[data-panel="hallucination"]')
        assert hallucination.locator("svg circle.pt").count() == 2  # route, prompt version
        expect(hallucination.locator("table")).to_contain_text("reweighted from 72 scored")
        drift = page.locator('.panel[data-panel="drift"] table')
        expect(drift.locator("tr", has_text="top1_drift")).to_contain_text("drifted")
        assert page.locator('.panel[data-panel="retrieval"] svg rect.bar').count() >= 5
        assert page.locator('.panel[data-panel="arms"] svg circle.pt').count() == 2
        tab.shot("monitor")
        assert tab.errors == [], tab.errors
        assert tab.outside() == [], tab.outside()
        api_calls = [u for u in tab.requests if "/dashboard/api/" in u]
        assert any("after=" in u for u in api_calls)  # pagination went through the cursor
    finally:
        tab.close()


def test_dashboard_refuses_without_auth_configured(tmp_path: Path) -> None:
    (tmp_path / "llmops.yaml").write_text("project: open\n")
    with ScriptedLLMServer(latency=0.0) as upstream:
        config = {
            "upstreams": {"up": http_pool(upstream.base_url)},
            "routes": {"chat": {"upstream": "up"}},
        }
        with running_gateway(config, root=tmp_path) as gw:
            r = httpx.get(gw.url + "/dashboard/api/items", params={"run": "x"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "admin_disabled"
