"""`llmops eval` through the real CLI entry point: run, gate, baseline, list, validate."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from evals_helpers import FACTS, Project, knowing_responder, last_user

from llmops.testing import Reply, ScriptedLLMServer


def _wrong_on_four(body: dict[str, Any]) -> Reply:
    question = last_user(body)
    if question in list(FACTS)[:4]:
        return Reply(content="Something unrelated entirely.")
    return knowing_responder(body)


def test_run_gate_baseline_and_regression(
    cli: Any, project: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    llm.set_responder(knowing_responder)
    make_suite()
    result = cli("eval", "run", "evals/facts.yaml", "--gate", cwd=project.root)
    assert result.exit_code == 0, result.stderr
    assert "facts: PASSED" in result.stdout and "contains" in result.stdout
    report = result.stdout.split("report: ")[1].split()[0]
    folder = Path(report).parent
    assert {p.name for p in folder.iterdir()} == {
        "results.json",
        "junit.xml",
        "summary.md",
        "report.html",
    }
    assert "pre-flight: 8 item(s) x 1 repeat(s): up to 8 model call(s)" in result.stderr
    # results.json keeps that pre-flight beside the calls made, valid against the shipped schema
    import jsonschema

    from llmops.evals.schema import RESULTS_SHIPPED

    written = json.loads((folder / "results.json").read_text())
    schema = json.loads(RESULTS_SHIPPED.path.read_text())
    jsonschema.validate(written, schema)
    assert written["preflight"]["target_calls"] == 8 and written["preflight"]["over_budget"] == []
    assert written["calls"]["target_calls"] == 8
    written["preflight"]["surprise"] = 1
    with pytest.raises(jsonschema.ValidationError, match="surprise"):
        jsonschema.validate(written, schema)

    result = cli("eval", "baseline", "evals/facts.yaml", cwd=project.root)
    assert result.exit_code == 0, result.stderr
    baseline = json.loads((project.root / "evals/baselines/facts.json").read_text())
    assert baseline["metrics"]["contains"]["items"]["q1"] == 1.0
    assert "commit it" in result.stdout

    # unchanged: passes against the baseline and costs nothing
    result = cli("eval", "run", "--gate", "--json", cwd=project.root)
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["passed"] is True
    assert doc["suites"][0]["calls"]["hit_rate"] == 1.0
    assert doc["suites"][0]["calls"]["target_calls"] == 0

    # a regression: four of six answers go wrong
    llm.set_responder(_wrong_on_four)
    result = cli("eval", "run", "evals/facts.yaml", "--gate", "--refresh", cwd=project.root)
    assert result.exit_code == 1
    assert "facts: FAILED" in result.stdout
    assert "contains: regressed vs baseline: -0.667 [" in result.stdout
    assert "95% CI, n=6" in result.stdout
    # without --gate the exit code stays 0
    result = cli("eval", "run", "evals/facts.yaml", cwd=project.root)
    assert result.exit_code == 0


def test_baseline_takes_the_run_options_of_a_fresh_run(
    cli: Any, project: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    llm.set_responder(knowing_responder)
    make_suite()
    stored = project.root / "evals/baselines/facts.json"
    assert cli("eval", "baseline", "evals/facts.yaml", cwd=project.root).exit_code == 0
    assert json.loads(stored.read_text())["metrics"]["contains"]["items"]["q1"] == 1.0
    llm.set_responder(_wrong_on_four)
    # cached answers are reused: the baseline does not move
    assert cli("eval", "baseline", "evals/facts.yaml", cwd=project.root).exit_code == 0
    assert json.loads(stored.read_text())["metrics"]["contains"]["items"]["q1"] == 1.0
    for flags in (["--refresh"], ["--no-cache", "--concurrency", "2"]):
        llm.set_responder(knowing_responder)
        assert cli("eval", "run", "evals/facts.yaml", "--refresh", cwd=project.root).exit_code == 0
        llm.set_responder(_wrong_on_four)
        result = cli("eval", "baseline", "evals/facts.yaml", *flags, cwd=project.root)
        assert result.exit_code == 0, result.stderr
        assert json.loads(stored.read_text())["metrics"]["contains"]["items"]["q1"] == 0.0, flags
    result = cli(
        "eval", "baseline", "evals/facts.yaml", "--from", "x.json", "--refresh", cwd=project.root
    )
    assert result.exit_code == 2
    assert "--refresh: only for a fresh run, not with --from x.json" in result.stderr


def test_absolute_minimum_fails_the_gate(
    cli: Any, project: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    llm.set_responder(_wrong_on_four)
    make_suite(metrics=[{"type": "contains", "min": 0.9, "options": {"only": "answerable"}}])
    result = cli("eval", "run", "--gate", cwd=project.root)
    assert result.exit_code == 1
    assert "mean 0.333 is below the minimum 0.900" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "run", "evals/missing.yaml"], "suite 'evals/missing.yaml' not found"),
        (["eval", "run", "--gate"], "no suites in"),
    ],
)
def test_usage_errors_exit_2(cli: Any, tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "llmops.yaml").write_text("project: x\n")
    result = cli(*args, cwd=tmp_path)
    assert result.exit_code == 2
    assert message in result.stderr


def test_validate_lists_every_bad_record(
    cli: Any, project: Project, make_suite: Callable[..., Path]
) -> None:
    make_suite()
    assert cli("eval", "validate", cwd=project.root).exit_code == 0
    project.write(
        "golden_sets/facts.jsonl",
        '{"id": "a", "input": "q"}\n{"id": "a", "input": "q"}\n{"input": "q"}\n',
    )
    result = cli("eval", "validate", cwd=project.root)
    assert result.exit_code == 1
    assert "2 invalid golden record(s)" in result.stderr
    assert "facts.jsonl:2: duplicate id 'a'" in result.stderr
    assert "facts.jsonl:3: missing field 'id'" in result.stderr
    listed = cli("eval", "list", "--json", cwd=project.root)
    assert json.loads(listed.stdout)[0]["name"] == "facts"


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def test_changed_since_runs_only_changed_suites(
    cli: Any, project: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    llm.set_responder(knowing_responder)
    make_suite("facts")
    project.golden(
        [{"id": "o1", "input": "What colour is the zorb?", "reference": "blue"}],
        "golden_sets/other.jsonl",
    )
    make_suite("other", dataset="golden_sets/other.jsonl")
    _git(project.root, "init", "-q")
    _git(project.root, "add", ".")
    _git(project.root, "commit", "-q", "-m", "init")
    result = cli("eval", "run", "--changed-since", "HEAD", cwd=project.root)
    assert result.exit_code == 0
    assert "facts: unchanged since HEAD, skipped" in result.stderr
    assert "nothing to run" in result.stdout
    project.write("golden_sets/other.jsonl", '{"id": "o1", "input": "Where do plinks live?"}\n')
    result = cli("eval", "run", "--changed-since", "HEAD", "--json", cwd=project.root)
    assert "other: changed (golden_sets/other.jsonl)" in result.stderr
    assert [s["suite"] for s in json.loads(result.stdout)["suites"]] == ["other"]
    result = cli("eval", "run", "--changed-since", "no-such-ref", cwd=project.root)
    assert result.exit_code == 2 and "git diff" in result.stderr


def test_a_stale_index_warns_and_fails_the_gate(cli: Any, project: Project) -> None:
    """After the pipeline file changed without a rebuild, cached answers must not pass silently."""
    from llmops.rag import Pipeline
    from llmops.rag.store import close_stores

    project.write("docs/pasta.md", "# Pasta\n\nCook spaghetti for nine to eleven minutes.\n")
    project.write("docs/planets.md", "# Planets\n\nJupiter is the largest planet.\n")
    pipeline = project.write(
        "rag_pipelines/docs.yaml",
        "name: docs\nsources:\n  - path: docs\nchunking:\n  chunk_size: 64\n  chunk_overlap: 8\n",
    )
    project.golden(
        [
            {"id": "p1", "input": "How long does spaghetti cook?", "reference_sources": ["pasta.md"]},
            {"id": "p2", "input": "Which planet is the largest?", "reference_sources": ["planets.md"]},
        ]
    )  # fmt: skip
    project.suite(
        {
            "dataset": "golden_sets/facts.jsonl",
            "target": {"pipeline": "docs", "provider": "extractive", "k": 1},
            "metrics": [{"type": "hit-at-k", "k": 1}],
        }
    )
    Pipeline.from_name("docs", project.settings()).run()
    close_stores()
    result = cli("eval", "run", "--gate", cwd=project.root)
    assert result.exit_code == 0, result.stderr
    assert "stale" not in result.stderr + result.stdout

    pipeline.write_text(pipeline.read_text("utf-8").replace("chunk_size: 64", "chunk_size: 32"))
    result = cli("eval", "run", "--gate", cwd=project.root)
    assert result.exit_code == 1
    first, hint = result.stderr.splitlines()[-2:]
    assert first.startswith(
        "error: refusing to gate suite 'facts' on a stale index: the served index of 'docs' ("
    )
    assert "answers, cached or not, come from the old index" in first
    assert first.endswith(f"({pipeline})")
    assert hint == (
        "hint: rebuild: llmops index run docs; or gate on the old index anyway: "
        "llmops eval run ... --gate --allow-stale-index"
    )
    assert "pre-flight" not in result.stderr  # refused before planning any call

    result = cli("eval", "run", cwd=project.root)  # without --gate: a warning, exit 0
    assert result.exit_code == 0
    assert "warning: the served index of 'docs'" in result.stderr
    assert "stale index: 'docs' serves" in result.stdout
    assert "cache hit rate 100%" in result.stdout  # the cached answers of the old index

    result = cli("eval", "run", "--gate", "--allow-stale-index", "--json", cwd=project.root)
    assert result.exit_code == 0, result.stderr
    results = json.loads(Path(json.loads(result.stdout)["suites"][0]["results"]).read_text())
    (stale,) = results["gate"]["stale_indexes"]
    assert stale["pipeline"] == "docs" and stale["file"] == str(pipeline)

    Pipeline.from_name("docs", project.settings()).run()  # rebuilt: no longer stale
    close_stores()
    result = cli("eval", "run", "--gate", cwd=project.root)
    assert result.exit_code == 0, result.stderr
    assert "stale" not in result.stderr + result.stdout
