"""The monitors end to end: synthetic traffic through the real gateway (real uvicorn, a real
index in embedded Qdrant, the real MiniLM model), scored with the eval harness's metric.

The upstream is the scripted OpenAI-compatible server, because the test must know exactly
which answers are unsupported: it copies a context sentence (supported) or, for planted
questions, states something no context says (unsupported).
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from gateway_helpers import http_pool, running_gateway  # type: ignore[import-not-found]

from llmops.config import Settings, load_settings
from llmops.gateway.auth import hash_key
from llmops.monitor.alerts import evaluate_rules
from llmops.monitor.queries import Window
from llmops.monitor.report import build_report
from llmops.monitor.scoring import Scorer
from llmops.testing import Reply, ScriptedLLMServer
from llmops.traces import TraceStore

DOCS = {
    "pasta.md": """\
        # Cooking pasta

        Boil plenty of salted water before the pasta goes in. Cook spaghetti for nine to eleven
        minutes until al dente. Fresh pasta cooks in two to three minutes.
        """,
    "noodles.md": """\
        # Noodles

        Egg noodles cook in four minutes in boiling water. Rice noodles only need soaking in hot
        water for ten minutes. Rinse cooked noodles so they do not stick.
        """,
    "rice.md": """\
        # Cooking rice

        Rinse the rice until the water runs clear. Simmer white rice for eighteen minutes with
        the lid on. Brown rice needs about forty minutes.
        """,
    "planets.md": """\
        # Planets

        Jupiter is the largest planet in the solar system. Venus is the hottest planet because
        of its thick atmosphere. Saturn has the most visible rings.
        """,
    "moons.md": """\
        # Moons

        Mars has two small moons called Phobos and Deimos. Jupiter has dozens of moons, the
        largest being Ganymede. The Moon orbits the Earth every 27 days.
        """,
    "bikes.md": """\
        # Bicycle care

        Oil the bicycle chain every 300 kilometres. Clean the chain before oiling it. Check the
        gears after a long ride.
        """,
    "tyres.md": """\
        # Tyres and brakes

        Road tyres need 6 to 8 bar of pressure. Replace brake pads when the grooves are worn
        away. Check tyre pressure every week.
        """,
}
PIPELINE = """\
name: docs
sources:
  - path: docs
chunking:
  chunk_size: 24
  chunk_overlap: 0
sparse:
  enabled: false
store:
  retention: 3
"""
ON_TOPIC = (
    [
        f"{q} {s}?"
        for q, s in itertools.product(
            ["How long should I cook", "What is the best way to cook", "Tell me how to prepare"],
            ["spaghetti", "fresh pasta", "white rice", "brown rice", "pasta in salted water"],
        )
    ]
    + [
        f"{q} {p}?"
        for q, p in itertools.product(
            ["What do you know about", "Which facts are known about", "Describe"],
            ["Jupiter", "Mars and its moons", "the planet Venus", "the largest planet"],
        )
    ]
    + [
        f"{q}?"
        for q in (
            "How often should I oil my bicycle chain",
            "What pressure do road tyres need",
            "When should I replace brake pads",
            "How do I look after my bicycle",
        )
    ]
)
OFF_TOPIC = [
    f"{q} {s}?"
    for q, s in itertools.product(
        ["How do I file", "What is the deadline for", "Who can help me with"],
        ["my income tax return", "VAT on invoices", "a tax refund", "capital gains tax"],
    )
] + [
    f"{q}?"
    for q in (
        "Who won the football world cup in 1998",
        "How many players are on a football team",
        "What is the offside rule in football",
        "Which club has won the most league titles",
    )
]
FABRICATED = (
    "Penguins invented the telescope in 1802 and sold it to sailors.",
    "The Eiffel Tower was carved from a single block of cheese.",
    "Violins were first played by octopuses in ancient Peru.",
)
_CTX = re.compile(
    r"^\[(?P<id>[^\]]+)\](?: \(source: [^)]*\))?\n(?P<text>.+?)(?=\n\n|\Z)", re.M | re.S
)


@dataclass
class Traffic:
    """What was sent, and which answers were planted unsupported."""

    qa_total: int
    qa_planted: int


@dataclass
class Env:
    root: Path
    gw: Any
    upstream: ScriptedLLMServer
    settings: Settings
    store: TraceStore
    traffic: Traffic


def _answer(body: dict[str, Any], traps: set[str]) -> Reply:
    user = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
    question = user.rsplit("Question:", 1)[-1].strip()
    contexts = [(m["id"], m["text"]) for m in _CTX.finditer(user.split("Question:")[0])]
    if question in traps or not contexts:
        return Reply(FABRICATED[len(question) % len(FABRICATED)])
    cid, text = contexts[0]
    first = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))[0]
    return Reply(f"{first} [{cid}]")


def _ask(gw: Any, route: str, question: str) -> int:
    r = httpx.post(
        gw.base_url + "/chat/completions",
        headers={"authorization": "Bearer sk-app"},
        json={"model": route, "messages": [{"role": "user", "content": question}]},
        timeout=60,
    )
    return r.status_code


def _project(root: Path, repo_root: Path, hook: str) -> None:
    (root / "rag_pipelines").mkdir(parents=True)
    (root / "rag_pipelines" / "docs.yaml").write_text(PIPELINE)
    for name, text in DOCS.items():
        path = root / "docs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    shutil.copytree(repo_root / "prompts", root / "prompts")
    golden = [{"id": f"g{i}", "input": q} for i, q in enumerate(ON_TOPIC[::2] * 2)]
    (root / "golden.jsonl").write_text("".join(json.dumps(g) + "\n" for g in golden))
    (root / "tiny.jsonl").write_text(
        "".join(json.dumps({"id": f"t{i}", "input": q}) + "\n" for i, q in enumerate(ON_TOPIC[:8]))
    )
    (root / "evals").mkdir()
    (root / "evals" / "slice.yaml").write_text(
        textwrap.dedent(
            """\
            name: slice
            dataset: golden.jsonl
            target: {type: inprocess, prompt: rag-answer@production, pipeline: docs,
                     provider: extractive, k: 2}
            metrics:
              - type: groundedness
            concurrency: 2
            """
        )
    )
    (root / "llmops.yaml").write_text(
        textwrap.dedent(
            f"""\
            project: monitor-e2e
            monitor:
              sampler: {{rate: 0.25, embed_rate: 1.0, risk_boost: 4, low_score: 0.3,
                         cap_per_hour: 100000}}
              drift: {{min_window: 30, golden_sets: {{same: golden.jsonl, shift: golden.jsonl}}}}
              alerts:
                - name: hallucinations
                  signal: unsupported_rate
                  route: qa
                  window: 1h
                  above: 0.1
                  actions: [log, ops]
                - name: stale-index
                  signal: stale_sources
                  route: qa
                  window: 1h
                  above: 0
                  actions: [reindex-docs]
                - name: new-topics
                  signal: query_drift
                  route: shift
                  window: 1h
                  significance: 0.01
                  actions: [rerun-evals]
              actions:
                rerun-evals: {{type: eval, suite: evals/slice.yaml, slice_size: 5, cooldown: 1h}}
                ops: {{type: webhook, url: "{hook}", retries: 3, backoff: 0.5, cooldown: 10m}}
                reindex-docs: {{type: reindex, pipeline: docs, cooldown: 1h}}
            """
        )
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, repo_root: Path, receiver: Any) -> Iterator[Env]:
    from llmops.monitor.coverage import compute_coverage
    from llmops.rag import Pipeline
    from llmops.rag.store import close_stores

    root = tmp_path_factory.mktemp("monitor-e2e")
    _project(root, repo_root, receiver.url)
    keys = orjson.dumps(
        [
            {"id": "app", "sha256": hash_key("sk-app"), "scopes": ["*"]},
            {"id": "events", "sha256": hash_key("sk-events"), "scopes": ["monitor"]},
            {"id": "other", "sha256": hash_key("sk-other"), "scopes": ["qa"]},
        ]
    ).decode()
    on_traps = set(ON_TOPIC[::10])  # about 1 in 10 on-topic answers is unsupported
    off_traps = {q for i, q in enumerate(OFF_TOPIC) if i % 4}  # 3 in 4 off-topic ones are
    with pytest.MonkeyPatch.context() as mp, ScriptedLLMServer() as upstream:
        mp.setenv("LLMOPS_HOME", str(root / ".llmops"))
        mp.setenv("MON_KEYS", keys)
        settings = load_settings(root)
        Pipeline.from_name("docs", settings).run()
        compute_coverage(settings, "docs")  # this process owns the store
        upstream.set_responder(lambda body: _answer(body, on_traps | off_traps))
        routes = {
            name: {"upstream": "llm", "prompt": "rag-answer@production", "pipeline": "docs",
                   "retrieval": {"k": 2}}
            for name in ("qa", "same", "shift")
        }  # fmt: skip
        config = {
            "auth": {"enabled": True, "keys_env": "MON_KEYS"},
            "upstreams": {"llm": http_pool(upstream.base_url)},
            "routes": routes,
        }
        with running_gateway(config, root=root) as gw:
            qa = [q for q in ON_TOPIC for _ in range(3)] + OFF_TOPIC * 4
            jobs = [("qa", q) for q in qa]
            jobs += [("same", q) for q in ON_TOPIC[1::2] * 2]
            shift = [q for q in OFF_TOPIC * 3] + ON_TOPIC[:12]
            jobs += [("shift", q) for q in shift]
            with ThreadPoolExecutor(4) as pool:
                codes = list(pool.map(lambda job: _ask(gw, *job), jobs))
            assert codes == [200] * len(codes)
            assert gw.runtime.writer.flush()
            store = TraceStore(settings.trace_url)
            status = Scorer(store, settings).score_pending(limit=5000)
            assert status.scored > 0 and status.errors == 0, status
            planted = sum(q in on_traps | off_traps for q in qa)
            yield Env(root, gw, upstream, settings, store, Traffic(len(qa), planted))
            store.close()
        close_stores()


@pytest.fixture(autouse=True)
def _same_home(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test sees the module project's state root (the gateway's)."""
    monkeypatch.setenv("LLMOPS_HOME", str(env.root / ".llmops"))
    monkeypatch.setenv("MON_KEYS", "[]")


def _report(env: Env, route: str) -> Any:
    window = Window.last(3600)
    return build_report(env.store, load_settings(env.root), window, route=route).routes[0]


def test_a_topic_shift_is_detected_and_named(env: Env) -> None:
    shifted = _report(env, "shift").signal("query_drift")
    assert shifted.status == "drift" and shifted.p_value < 0.01, shifted.message
    assert shifted.evidence["n_cur"] >= 30 and shifted.evidence["reference"].startswith("golden")
    grown = [t for t in shifted.evidence["topics"] if t["cur_share"] > t["ref_share"]]
    assert grown and any(
        word in grown[0]["example"].lower() for word in ("tax", "vat", "football", "club")
    ), shifted.evidence["topics"]
    same = _report(env, "same").signal("query_drift")
    assert same.status == "no_drift", same.message  # the same topics as the golden set


def test_planted_unsupported_answers_fire_the_alert_and_the_webhook(
    env: Env, receiver: Any
) -> None:
    report = _report(env, "qa")
    rate = report.signal("unsupported_rate")
    truth = env.traffic.qa_planted / env.traffic.qa_total
    assert rate.status == "ok"
    assert rate.low <= truth <= rate.high, (truth, rate.message)
    unweighted = rate.evidence["unweighted"]["value"]
    assert unweighted > rate.high  # risky traffic was oversampled: the raw share is biased
    coverage = report.signal("out_of_coverage_rate")
    assert coverage.status == "ok" and coverage.value > 0.1  # the off-topic questions
    receiver.statuses[:] = [503]  # the first delivery fails; the retry must get through
    receiver.bodies.clear()
    waits: list[float] = []
    outcomes = evaluate_rules(
        env.store, load_settings(env.root), sleep=waits.append, only="hallucinations"
    )
    (outcome,) = outcomes
    assert outcome.fired
    by_name = {a.action: a for a in outcome.actions}
    assert by_name["log"].status == "done"
    hook = by_name["ops"]
    assert hook.status == "done" and hook.result == {"status": 200, "attempts": 2}
    assert len(waits) == 1 and 0 <= waits[0] <= 0.5  # full-jitter backoff, injected sleep
    assert len(receiver.bodies) == 2
    body = receiver.bodies[-1]
    assert body["rule"] == "hallucinations" and body["route"] == "qa"
    assert body["evidence"]["signal"]["low"] > 0.1
    assert any(e["answer"] in FABRICATED for e in body["evidence"]["examples"])
    again = evaluate_rules(env.store, load_settings(env.root), only="hallucinations")
    skipped = {a.action: a for a in again[0].actions}["ops"]
    assert skipped.status == "skipped" and "cool-down" in skipped.reason


def test_events_endpoint_validates_whole_batches(env: Env) -> None:
    url = env.gw.url + "/v1/monitor/events"
    events = {"authorization": "Bearer sk-events"}
    before = env.store.count()
    good = {
        "request_id": "app-1", "route": "app", "question": "How long should rice simmer?",
        "answer": "Simmer white rice for eighteen minutes.", "latency_ms": 120.0,
        "contexts": [{"id": "r1", "text": "Simmer white rice for eighteen minutes.", "score": 0.8}],
        "prompt_name": "support", "prompt_version": "3", "upstream_model": "my-model",
    }  # fmt: skip
    cases = [
        ({"events": [good, {"request_id": "app-2"}]}, "events.1.trace.route"),
        ({"events": [good, {**good, "request_id": "app-3", "latency_ms": "fast"}]}, "latency_ms"),
        ({"events": [{**good, "status": "200"}]}, "events.0.trace.status"),
        ({"events": [{**good, "ts": time.time() * 1000}]}, "events.0.ts"),
        ({"events": "nope"}, "events"),
    ]
    for body, where in cases:
        r = httpx.post(url, headers=events, json=body)
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert where in error["message"] and "nothing was stored" in error["message"]
    assert httpx.post(url, json={"events": [good]}).status_code == 401
    denied = httpx.post(url, headers={"authorization": "Bearer sk-other"}, json={"events": [good]})
    assert denied.status_code == 403 and "monitor" in denied.json()["error"]["message"]
    assert env.store.count() == before  # nothing half stored
    ahead = {**good, "request_id": "app-4", "ts": time.time() + 3600}
    feedback = {"type": "feedback", "request_id": "app-1", "score": -1.0}
    ok = httpx.post(url, headers=events, json={"events": [good, ahead, feedback]})
    assert ok.status_code == 200, ok.text
    answer = ok.json()
    assert answer["accepted"] == 2 and answer["feedback"] == 1
    assert [s["request_id"] for s in answer["clock_skew"]] == ["app-4"]
    row = env.store.query(request_id="app-4")[0]
    assert row["ts_client"] > row["ts"] and row["ts"] <= time.time()
    first = env.store.query(request_id="app-1")[0]
    assert first["feedback"] == -1.0 and "feedback" in (first["risk"] or "")
    assert first["upstream_model"] == "my-model" and first["prompt_version"] == "3"
    report = build_report(env.store, load_settings(env.root), Window.last(3600), route="app")
    assert any("ahead of the gateway" in note for note in report.notes)


def test_an_empty_window_and_a_small_reference_say_so(env: Env) -> None:
    settings = load_settings(env.root)
    now = time.time()
    empty = build_report(env.store, settings, Window(now - 90 * 86400, now - 89 * 86400))
    assert empty.routes == [] and "no traffic in the window" in empty.notes[0]
    quiet = build_report(
        env.store, settings, Window(now - 90 * 86400, now - 89 * 86400), route="qa"
    ).routes[0]
    assert quiet.signal("query_drift").status in ("no_data", "too_few")
    assert quiet.signal("unsupported_rate").status == "no_data"
    assert quiet.signal("error_rate").value is None  # no data, never a rate of 0
    settings.monitor.drift.golden_sets = {"same": "tiny.jsonl"}
    tiny = build_report(env.store, settings, Window.last(3600), route="same").routes[0]
    drift = tiny.signal("query_drift")
    assert drift.status == "too_few"
    assert "reference set has 8" in drift.message and "at least 30" in drift.message


def test_a_metrics_scrape_serves_every_dashboard_metric(env: Env, repo_root: Path) -> None:
    from llmops.monitor.watch import run_once

    settings = load_settings(env.root)
    for rule in settings.monitor.alerts:
        rule.actions = []  # evaluate and publish only; the alert tests run the actions
    tick = run_once(env.store, settings)
    assert tick.signals
    scrape = httpx.get(env.gw.url + "/metrics").text
    samples = {
        line.split("{")[0].split(" ")[0]
        for line in scrape.splitlines()
        if line and not line.startswith("#")
    }
    dashboard = json.loads(
        (repo_root / "serving" / "grafana" / "dashboards" / "llmops-monitor.json").read_text()
    )
    from grafana_check import metric_names  # type: ignore[import-not-found]

    names = metric_names(dashboard)
    assert len(names) >= 20
    missing = sorted(n for n in names if n not in samples)
    assert not missing, f"dashboard panels on metrics the gateway does not serve: {missing}"
    assert 'llmops_monitor_unsupported_rate{route="qa",stat="value"}' in scrape


def test_a_trigger_reindexes_changed_sources_once_per_cooldown(env: Env) -> None:
    from llmops.rag import Pipeline

    settings = load_settings(env.root)
    pipe = Pipeline.from_name("docs", settings)
    served = pipe.served()
    assert served is not None
    (env.root / "docs" / "tea.md").write_text("# Tea\n\nSteep green tea for two minutes.\n")
    now = time.time()
    (fired,) = evaluate_rules(env.store, settings, clock=lambda: now, only="stale-index")
    assert fired.fired and fired.windows[0]["value"] == 1.0
    (action,) = fired.actions
    assert action.status == "done", action.reason
    assert action.result["switched"] and action.result["previous_version"] == served.index_version
    assert action.result["changed_files"]["added"] == ["0:tea.md"]
    new = action.result["index_version"]
    assert new != served.index_version
    assert pipe.store().alias_target(pipe.spec.alias) == pipe.collection_name(new)
    assert action.result["coverage"]["index_version"] == new
    # A second firing inside the cool-down does nothing and says why.
    (second,) = evaluate_rules(env.store, settings, clock=lambda: now + 60, only="stale-index")
    assert second.fired
    (skipped,) = second.actions
    assert skipped.status == "skipped" and "cool-down" in skipped.reason
    assert pipe.store().alias_target(pipe.spec.alias) == pipe.collection_name(new)
    # New traffic is served from the new version, and nothing is stale any more.
    assert _ask(env.gw, "qa", "How long should green tea steep?") == 200
    assert env.gw.runtime.writer.flush()
    row = env.store.query(route="qa", limit=1)[0]
    assert row["index_version"] == new
    fresh = _report(env, "qa").signal("stale_sources")
    assert fresh.value == 0.0, fresh.message
    from llmops.monitor.journal import Journal

    kinds = [(e.kind, e.action, e.status) for e in Journal(env.store).entries(limit=10)]
    assert ("action", "reindex-docs", "done") in kinds
    assert ("action", "reindex-docs", "skipped") in kinds


def test_query_drift_reruns_the_eval_suite_on_the_drifted_slice(env: Env) -> None:
    settings = load_settings(env.root)
    (outcome,) = evaluate_rules(env.store, settings, only="new-topics")
    assert outcome.fired
    (action,) = outcome.actions
    assert action.status == "done", action.reason
    result = action.result
    assert len(result["records"]) == 5 and result["queries_matched"] >= 30
    golden = {
        json.loads(line)["id"]: json.loads(line)["input"]
        for line in (env.root / "golden.jsonl").read_text().splitlines()
    }
    assert set(result["records"]) <= set(golden)  # the slice is golden records...
    sliced = Path(result["slice_file"]).read_text().splitlines()
    assert [json.loads(line)["id"] for line in sliced] == result["records"]
    assert result["metrics"]["groundedness"] is not None  # ...run through the suite's target
