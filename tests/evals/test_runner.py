"""The runner end to end against a scripted OpenAI-compatible target on loopback."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from evals_helpers import Project, knowing_responder, last_user

from llmops.errors import ConfigError, LLMOpsError, NotFoundError, UsageError
from llmops.evals import RunOptions, Suite, load_suite, run_suite
from llmops.evals.runner import EvalRunner
from llmops.evals.targets import Variant
from llmops.testing import Reply, ScriptedLLMServer


def _chat_requests(llm: ScriptedLLMServer) -> list[dict[str, Any]]:
    return [r for r in llm.requests if r["path"].endswith("/chat/completions")]


@pytest.fixture
def facts(llm: ScriptedLLMServer, make_suite: Callable[..., Path]) -> Suite:
    """The facts suite, against a scripted target that knows every answer."""
    llm.set_responder(knowing_responder)
    return load_suite(make_suite())


def test_run_scores_every_item_and_records_lineage(
    project: Project, llm: ScriptedLLMServer, facts: Suite
) -> None:
    result = run_suite(facts, project.settings())
    assert result.passed is True
    assert result.items == 8 and len(result.rows) == 8
    means = {m.name: m.mean for m in result.metrics}
    assert means == {"contains": 1.0, "rouge-l": 1.0, "hallucination": 1.0}
    counts = {m.name: m.counts for m in result.metrics}
    assert counts["hallucination"] == {"n/a": 6, "pass": 2}
    assert result.calls.target_calls == 8 and result.calls.cache_hits == 0
    row = result.rows[0]
    assert row.lineage.dataset_hash == result.lineage.dataset_hash != None  # noqa: E711
    assert row.lineage.llmops_version and row.lineage.upstream_model == "test-model"
    # temperature 0 unless set
    assert all(r["json"]["temperature"] == 0 for r in _chat_requests(llm))


def test_unchanged_rerun_makes_zero_model_calls(
    project: Project, llm: ScriptedLLMServer, facts: Suite
) -> None:
    first = run_suite(facts, project.settings())
    sent = len(_chat_requests(llm))
    second = run_suite(facts, project.settings())
    assert len(_chat_requests(llm)) == sent == 8
    assert second.calls.model_calls == 0
    assert second.calls.hit_rate == 1.0
    # Two runs are two runs, even when they share their second, item count and answers.
    assert len({first.run_id, second.run_id}) == 2 and all(
        len(r.run_id) == 16 for r in (first, second)
    )
    assert [m.mean for m in second.metrics] == [m.mean for m in first.metrics]
    # --no-cache calls again; --refresh calls again and rewrites
    run_suite(facts, project.settings(), RunOptions(use_cache=False))
    assert len(_chat_requests(llm)) == 16
    refreshed = run_suite(facts, project.settings(), RunOptions(refresh=True))
    assert refreshed.calls.model_calls == 8 and len(_chat_requests(llm)) == 24


def test_preflight_counts_calls_and_budget_refuses(
    project: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    llm.set_responder(knowing_responder)
    suite = load_suite(make_suite(budget={"max_calls": 5}))
    seen = []
    with pytest.raises(UsageError, match="over budget: 8 model calls > budget.max_calls 5") as info:
        run_suite(suite, project.settings(), RunOptions(on_preflight=seen.append))
    assert info.value.hint and "--yes" in info.value.hint
    assert seen[0].target_calls == 8 and seen[0].est_tokens > 0
    assert _chat_requests(llm) == []  # refused before calling anything
    result = run_suite(suite, project.settings(), RunOptions(yes=True))
    assert result.calls.target_calls == 8
    # now cached: the pre-flight expects no call and the budget no longer objects
    seen.clear()
    run_suite(suite, project.settings(), RunOptions(on_preflight=seen.append))
    assert seen[0].model_calls == 0 and seen[0].cached_items == 8


def test_retries_429_then_succeeds(
    project: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    llm.set_responder(knowing_responder)
    llm.enqueue(Reply(status=429, retry_after=0.01), Reply(status=503))
    suite = load_suite(make_suite(concurrency=1, limit=2))
    result = run_suite(suite, project.settings())
    assert result.calls.retries == 2
    assert all(r.output.error is None for r in result.rows)
    assert result.passed is True


def test_failing_target_marks_items_errored_and_gate_fails(
    project: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    llm.set_responder(lambda body: Reply(status=400, content="bad request"))
    suite = load_suite(make_suite(limit=3))
    result = run_suite(suite, project.settings())
    assert all(r.output.error and "HTTP 400" in r.output.error for r in result.rows)
    assert result.passed is False
    assert {m.status for m in result.metrics} >= {"error"}
    # errors: ignore leaves them out instead
    ignoring = load_suite(make_suite(limit=3, gate={"errors": "ignore"}))
    assert run_suite(ignoring, project.settings()).passed is True


def test_repeats_detect_flaky_items(
    project: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    flip = itertools.count()

    def responder(body: dict[str, Any]) -> Reply:
        if last_user(body) == "Where do plinks live?":
            return Reply(content="Plinks live in caves." if next(flip) % 2 == 0 else "No idea.")
        return knowing_responder(body)

    llm.set_responder(responder)
    suite = load_suite(make_suite(repeats=4, concurrency=1))
    result = run_suite(suite, project.settings())
    assert len(result.rows) == 32
    flaky = {(f.id, f.metric): f for f in result.flaky}
    assert set(flaky) == {("q3", "contains"), ("q3", "rouge-l")}
    assert flaky[("q3", "contains")].verdicts == ["pass", "fail", "pass", "fail"]
    assert flaky[("q3", "contains")].flip_rate == 0.5
    # each repeat is its own cached call: an unchanged re-run is free and stable
    again = run_suite(suite, project.settings())
    assert again.calls.model_calls == 0 and len(again.flaky) == 2


def test_missing_golden_set_points_at_the_suite_line(
    project: Project, make_suite: Callable[..., Path]
) -> None:
    path = make_suite(dataset="golden_sets/nope.jsonl")
    with pytest.raises(NotFoundError) as info:
        EvalRunner(load_suite(path), project.settings())
    assert info.value.file == str(path.resolve())
    assert info.value.line == 1 and "nope.jsonl" in info.value.message


def test_missing_prompt_points_at_the_target_line(project: Project) -> None:
    path = project.suite(
        {
            "dataset": "golden_sets/facts.jsonl",
            "target": {"prompt": "no-such-prompt@production", "provider": "extractive"},
            "metrics": [{"type": "contains"}],
        }
    )
    with pytest.raises(NotFoundError) as info:
        EvalRunner(load_suite(path), project.settings())
    assert info.value.file == str(path.resolve()) and info.value.line == 2
    assert "no-such-prompt" in info.value.message


@pytest.mark.parametrize(
    ("suite", "message", "line"),
    [
        (
            {"dataset": "g.jsonl", "target": {"promt": "x"}, "metrics": [{"type": "bleu"}]},
            "unknown key 'target.promt' (did you mean 'prompt'?)",
            3,
        ),
        (
            {"dataset": "g.jsonl", "target": {"type": "http"}, "metrics": [{"type": "contains"}]},
            "an http target needs 'url'",
            2,
        ),
        (
            {"dataset": "g.jsonl", "target": {}, "metrics": [{"type": "rouge"}]},
            "unknown metric type 'rouge' (did you mean 'rouge-l'?)",
            4,
        ),
        (
            {"dataset": "g.jsonl", "target": {"type": "grpc"}, "metrics": [{"type": "bleu"}]},
            "unknown target type 'grpc'",
            3,
        ),
        (
            {
                "dataset": "g.jsonl",
                "target": {},
                "metrics": [{"type": "bleu"}, {"type": "bleu"}],
            },
            "metric names must be unique; repeated: bleu",
            None,
        ),
    ],
)
def test_bad_suites_name_file_line_and_key(
    project: Project, suite: dict[str, Any], message: str, line: int | None
) -> None:
    import yaml

    path = project.write("evals/bad.yaml", yaml.safe_dump(suite, sort_keys=False))
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    assert message in info.value.message
    assert info.value.file == str(path)
    if line is not None:
        assert info.value.line == line


def test_bad_regex_metric_is_a_config_error(
    project: Project, make_suite: Callable[..., Path]
) -> None:
    path = make_suite(metrics=[{"type": "contains"}, {"type": "regex", "value": "(unclosed"}])
    with pytest.raises(ConfigError, match="invalid regular expression") as info:
        EvalRunner(load_suite(path), project.settings())
    assert info.value.line is not None and info.value.file == str(path.resolve())


def test_progress_bar_runs(
    project: Project,
    llm: ScriptedLLMServer,
    make_suite: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    llm.set_responder(knowing_responder)
    result = run_suite(
        load_suite(make_suite(limit=2)), project.settings(), RunOptions(progress=True)
    )
    assert len(result.rows) == 2


def test_http_target_reads_gateway_lineage_headers_and_contexts(
    project: Project, llm: ScriptedLLMServer
) -> None:
    from llmops.evals.golden import GoldenRecord
    from llmops.evals.suite import TargetSpec
    from llmops.evals.targets import HttpTarget

    target = HttpTarget(
        TargetSpec(type="http", url=llm.base_url, route="docs-qa"), project.settings()
    )
    call = target.prepare(GoldenRecord(id="x", input="q?"))
    assert (
        call.messages == [{"role": "user", "content": "q?"}] and call.material["model"] == "docs-qa"
    )
    value = {
        "content": "answer [c1]",
        "model": "qwen",
        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
        "headers": {
            "x-llmops-prompt": "rag-answer@2",
            "x-llmops-index": "bec7394c56d2",
            "x-llmops-upstream": "vllm-pool",
        },
        "extra": {
            "llmops": {
                "route": "docs-qa",
                "contexts": [{"id": "c1", "text": "t", "source": "a.md"}],
            }
        },
    }
    out = target.output(call, value, cached=False)
    assert out.lineage.prompt is not None and out.lineage.prompt.ref == "rag-answer@2"
    assert out.lineage.index is not None and out.lineage.index.index_version == "bec7394c56d2"
    assert out.lineage.upstream == "vllm-pool" and out.lineage.upstream_model == "qwen"
    assert out.contexts == [{"id": "c1", "text": "t", "source": "a.md"}]
    with pytest.raises(LLMOpsError, match="cannot be reordered"):
        target.prepare(GoldenRecord(id="x", input="q?"), Variant(reorder_contexts=True))


def test_missing_route_and_dead_endpoint_fail_before_any_call(
    project: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    path = make_suite(target={"type": "http", "url": llm.base_url, "route": "no-such-route"})
    with pytest.raises(NotFoundError, match="does not serve 'no-such-route'") as info:
        EvalRunner(load_suite(path), project.settings())
    assert info.value.file == str(path.resolve()) and info.value.line == 2
    assert info.value.hint is not None and "test-model" in info.value.hint
    dead = make_suite(target={"type": "http", "url": "http://127.0.0.1:9/v1", "model": "m"})
    with pytest.raises(UsageError, match="cannot reach the target"):
        EvalRunner(load_suite(dead), project.settings())
    assert [r for r in llm.requests if r["path"].endswith("/chat/completions")] == []


def test_editing_a_reference_rescores_without_calling_the_model(
    project: Project, facts: Suite, make_suite: Callable[..., Path]
) -> None:
    from evals_helpers import golden_records

    assert run_suite(facts, project.settings()).metrics[0].mean == 1.0
    records = golden_records()
    records[0]["reference"] = "The zorb is purple."
    project.golden(records)
    again = run_suite(load_suite(make_suite()), project.settings())
    assert again.calls.model_calls == 0  # the answers come from the cache
    assert again.metrics[0].mean == pytest.approx(5 / 6)  # but the edited item is rescored
