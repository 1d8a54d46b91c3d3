"""Slices: golden-set attributes, the suite's ``slices:`` rules and the slice gate.

The statistics run through ``apply_gate`` on simulated runs (no model); the runner, the CLI
summary, JUnit and the summary run end to end against the scripted target; the shipped
python-docs suite's slice rule is tripped by a deliberately broken slice of its real baseline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from evals_helpers import FACTS, Project, golden_records, knowing_responder, last_user

from llmops.errors import CheckFailedError, ConfigError
from llmops.evals import load_golden_set, load_suite
from llmops.evals.gate import apply_gate, summarize
from llmops.evals.metrics.base import create_metric
from llmops.evals.records import ItemRow, MetricResult, RunResult, TargetOutput
from llmops.evals.report import to_junit
from llmops.evals.suite import GateSpec, MetricSpec, SliceSpec
from llmops.testing import Reply, ScriptedLLMServer

# --------------------------------------------------------------------------------------------
# Simulated runs through apply_gate
# --------------------------------------------------------------------------------------------


def _run(scores: dict[str, float], attrs: dict[str, dict[str, str]], metric: str) -> RunResult:
    rows = [
        ItemRow(
            id=item,
            input=item,
            attributes=attrs[item],
            output=TargetOutput(answer="a"),
            metrics={metric: MetricResult.scored(score, 0.5)},
        )
        for item, score in scores.items()
    ]
    return RunResult(suite="sim", started_at="2026-12-06T00:00:00Z", items=len(rows), rows=rows)


def _gate(
    scores: dict[str, float],
    attrs: dict[str, dict[str, str]],
    spec: dict[str, Any],
    baseline: dict[str, float] | None = None,
    *,
    min_effect: float = 0.02,
) -> RunResult:
    metric = create_metric(MetricSpec.model_validate({"type": "rouge-l"}))
    gate = GateSpec(min_effect=min_effect)
    run = _run(scores, attrs, "rouge-l")
    summarize(run, [metric], gate)
    base = None
    if baseline is not None:
        base = {
            "metrics": {
                "rouge-l": {"mean": float(np.mean(list(baseline.values()))), "items": baseline}
            }
        }
    apply_gate(run, [metric], gate, base, slices=SliceSpec.model_validate(spec))
    return run


def _groups(sizes: dict[str, int]) -> dict[str, dict[str, str]]:
    attrs = {}
    for group, size in sizes.items():
        for i in range(size):
            attrs[f"{group}-{i:03d}"] = {"group": group}
    return attrs


def test_a_collapsed_slice_fails_by_its_rule_and_names_the_slice() -> None:
    rng = np.random.default_rng(7)
    attrs = _groups({"a": 40, "b": 40, "c": 40})
    base = {i: float(rng.uniform(0.5, 1.0)) for i in attrs}
    noisy = {i: float(np.clip(s + rng.normal(0, 0.05), 0, 1)) for i, s in base.items()}
    spec = {
        "by": ["group"],
        "rules": [{"metric": "rouge-l", "no_regression": True, "max_gap": 0.15, "min": 0.5}],
    }
    healthy = _gate(noisy, attrs, spec, base)
    assert healthy.slices is not None and healthy.slices.passed and healthy.passed
    assert {(r.value, r.items) for r in healthy.slices.slices} == {("a", 40), ("b", 40), ("c", 40)}
    # Break one slice: group c loses 0.3 on every item. The run's mean drops by only 0.1.
    broken = {i: max(0.0, s - 0.3) if i.startswith("c-") else s for i, s in noisy.items()}
    run = _gate(broken, attrs, spec, base)
    assert run.slices is not None and not run.passed and not run.slices.passed
    failed = {(c.rule, c.label) for c in run.slices.failed}
    assert ("no_regression", "group=c") in failed
    assert ("max_gap", "group (a vs c)") in failed or ("max_gap", "group (b vs c)") in failed
    assert not any("group=a" in label or "group=b" in label for _, label in failed)
    reason = next(c.reason for c in run.slices.failed if c.rule == "no_regression")
    assert reason.startswith("rouge-l on group=c: regressed vs baseline") and "n=40" in reason


def test_a_slice_below_min_items_gets_too_few_items_not_a_verdict() -> None:
    attrs = _groups({"big": 30, "tiny": 4})
    scores = {i: (0.0 if i.startswith("tiny") else 0.9) for i in attrs}
    spec = {"by": ["group"], "min_items": 10, "rules": [{"metric": "rouge-l", "min": 0.5}]}
    run = _gate(scores, attrs, spec)
    assert run.slices is not None
    tiny = next(c for c in run.slices.checks if c.slice == "tiny")
    assert tiny.status == "too few items" and tiny.n == 4
    assert "group=tiny: too few items: n=4 < min_items 10" in tiny.reason
    assert run.slices.passed and run.passed  # a collapsed 4-item slice is not judged on noise
    # ...but the same collapse on a slice of 10 items fails by the rule.
    attrs = _groups({"big": 30, "small": 10})
    scores = {i: (0.0 if i.startswith("small") else 0.9) for i in attrs}
    run = _gate(scores, attrs, spec)
    assert run.slices is not None and not run.passed
    assert [c.label for c in run.slices.failed] == ["group=small"]


def test_max_gap_is_judged_by_bootstrap_not_by_the_point_estimate() -> None:
    rng = np.random.default_rng(3)
    spec = {"by": ["group"], "rules": [{"metric": "rouge-l", "max_gap": 0.1}]}
    attrs = _groups({"x": 12, "y": 12})
    # observed gap ~0.2 > 0.1 on 12 noisy items each: not significant, passes
    scores = {
        i: float(rng.uniform(0.4, 1.0) if i.startswith("x") else rng.uniform(0.2, 0.8))
        for i in attrs
    }
    run = _gate(scores, attrs, spec)
    gap = run.slices.checks[0] if run.slices else None
    assert gap is not None and gap.value is not None and gap.value > 0.1
    assert gap.status == "pass" and gap.ci_low is not None and gap.ci_low < 0.1
    # the same gap on 200 items each is significant: fails
    attrs = _groups({"x": 200, "y": 200})
    scores = {
        i: float(rng.uniform(0.4, 1.0) if i.startswith("x") else rng.uniform(0.2, 0.8))
        for i in attrs
    }
    run = _gate(scores, attrs, spec)
    assert run.slices is not None and [c.rule for c in run.slices.failed] == ["max_gap"]


def _false_alarm(seed: int, correction: str) -> bool:
    """One pure-noise run: 4 slices x 2 dimensions, every rule, nothing really changed."""
    rng = np.random.default_rng(seed)
    n = 120
    attrs = {f"i{k:03d}": {"kind": "abcd"[k % 4], "area": "pqrs"[(k // 4) % 4]} for k in range(n)}
    quality = rng.beta(2, 2, n)
    base = {
        i: float(np.clip(q + rng.normal(0, 0.12), 0, 1))
        for i, q in zip(attrs, quality, strict=True)
    }
    now = {
        i: float(np.clip(q + rng.normal(0, 0.12), 0, 1))
        for i, q in zip(attrs, quality, strict=True)
    }
    spec = {
        "by": ["kind", "area"],
        "correction": correction,
        "rules": [{"metric": "rouge-l", "no_regression": True}],
    }
    run = _gate(now, attrs, spec, base, min_effect=0.0)
    assert run.slices is not None and run.slices.tests == 8
    return not run.slices.passed


def test_holm_keeps_family_wise_false_alarms_at_alpha() -> None:
    """60 seeded pure-noise runs, 8 paired no-regression checks each (4 slices of 30 items by 2
    dimensions): with Holm, a false alarm in about alpha of runs (measured 4/60; the percentile
    bootstrap is slightly liberal on 30 items); uncorrected, 27/60 — the reason for the
    correction."""
    holm = sum(_false_alarm(seed, "holm") for seed in range(60))
    raw = sum(_false_alarm(seed, "none") for seed in range(60))
    assert holm <= 5, f"{holm}/60 runs with a false alarm under holm"
    assert raw > holm and raw >= 6, f"uncorrected {raw}/60 vs holm {holm}/60"


# --------------------------------------------------------------------------------------------
# Validation: suite files and golden records
# --------------------------------------------------------------------------------------------

BASE_SUITE: dict[str, Any] = {
    "dataset": "golden_sets/facts.jsonl",
    "target": {},
    "metrics": [{"type": "rouge-l"}, {"type": "contains"}],
}


@pytest.mark.parametrize(
    ("slices", "message", "key"),
    [
        ({"by": ["kind"], "rulez": []}, "(did you mean 'rules'?)", "slices.rulez"),
        ({"by": ["kind"], "rules": [{"metric": "rouge-l"}]}, "needs at least one of", None),
        (
            {"by": ["kind"], "rules": [{"metric": "rouge-l", "min": 0.5, "by": ["knd"]}]},
            "(did you mean 'kind'?)",
            None,
        ),
        (
            {"by": ["kind"], "rules": [{"metric": "rouge", "min": 0.5}]},
            "slice rule names unknown metric 'rouge' (did you mean 'rouge-l'?)",
            "slices.rules.0.metric",
        ),
        ({"by": ["kind"], "min_items": 1}, "min_items", None),
        ({"by": ["bad name"]}, "is not an attribute name", None),
    ],
)
def test_bad_slices_name_file_line_and_key(
    project: Project, slices: dict[str, Any], message: str, key: str | None
) -> None:
    path = project.suite({**BASE_SUITE, "slices": slices}, name="bad")
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    assert message in info.value.message
    assert info.value.file == str(path) and info.value.line is not None and info.value.line > 3
    if key is not None:
        assert key in (info.value.key or info.value.message)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"atributes": {"kind": "x"}}, "unknown field 'atributes' (did you mean 'attributes'?)"),
        ({"attributes": {"tags": "x"}}, "attribute name 'tags'"),
        ({"attributes": {"kind": " "}}, "attribute 'kind' is empty"),
        ({"attributes": {"kind": 3}}, "'attributes.kind'"),
    ],
)
def test_bad_golden_attributes_name_file_and_line(
    project: Project, extra: dict[str, Any], message: str
) -> None:
    records = golden_records()
    records[2] = {**records[2], **extra}
    path = project.golden(records, rel="golden_sets/bad.jsonl")
    with pytest.raises(CheckFailedError) as info:
        load_golden_set(path)
    assert [p for p in info.value.problems if p.startswith(f"{path}:3: ") and message in p]


def test_slicing_by_an_attribute_no_record_has_is_an_error(
    project: Project, make_suite: Callable[..., Path], cli: Any
) -> None:
    records = [{**r, "attributes": {"kind": "fact"}} for r in golden_records()]
    project.golden(records)
    make_suite(slices={"by": ["knid"], "rules": [{"metric": "contains", "min": 0.5}]})
    result = cli("eval", "validate", cwd=project.root)
    assert result.exit_code != 0
    assert "slices.by names attribute 'knid'" in result.stderr
    assert "did you mean 'kind'" in result.stderr and "facts.yaml" in result.stderr


# --------------------------------------------------------------------------------------------
# End to end: runner, CLI summary, JUnit, Markdown summary and the HTML report's document
# --------------------------------------------------------------------------------------------

ANIMALS = {1: "zorb", 2: "quint", 3: "plink", 4: "vex", 5: "glim", 6: "troll"}


def _sliced_records() -> list[dict[str, Any]]:
    records = golden_records()
    for i, record in enumerate(records):
        # q1-q3 ask about looks and bodies, q4-q6 about habits; the unanswerable ones have none
        if record["answerable"]:
            record["attributes"] = {"topic": "body" if i < 3 else "habits"}
    return records


def _breaks_habits(body: dict[str, Any]) -> Reply:
    question = last_user(body)
    if question in list(FACTS)[3:]:
        return Reply(content="I am not sure.")
    return knowing_responder(body)


@pytest.mark.parametrize("broken", [False, True])
def test_a_planted_slice_failure_fails_the_gate_by_its_slice_rule(
    project: Project,
    llm: ScriptedLLMServer,
    make_suite: Callable[..., Path],
    cli: Any,
    broken: bool,
) -> None:
    project.golden(_sliced_records())
    make_suite(
        slices={
            "by": ["topic"],
            "min_items": 3,
            "rules": [{"metric": "contains", "min": 0.6}],
        },
        metrics=[{"type": "contains", "options": {"only": "answerable"}}],
    )
    llm.set_responder(_breaks_habits if broken else knowing_responder)
    out = project.root / "out"
    result = cli("eval", "run", "evals/facts.yaml", "--gate", "--out", str(out), cwd=project.root)
    run = RunResult.model_validate_json((out / "results.json").read_text())
    assert run.slices is not None
    assert {(r.value, r.items) for r in run.slices.slices} == {
        ("body", 3),
        ("habits", 3),
        ("(none)", 2),
    }
    junit = (out / "junit.xml").read_text()
    summary = (out / "summary.md").read_text()
    assert "**Slice gate**" in summary and "topic: (none) n=2, body n=3, habits n=3" in summary
    assert 'classname="facts.slices.min" name="contains on topic=habits (n=3)"' in junit
    if not broken:
        assert result.exit_code == 0 and run.passed
        assert "slice FAILED" not in result.stdout
        return
    # The suite's mean on contains is 0.5 — no metric floor is set; only the slice rule fails.
    assert result.exit_code != 0 and not run.passed
    assert all(m.status == "pass" for m in run.metrics)
    assert [c.label for c in run.slices.failed] == ["topic=habits"]
    assert "slice FAILED: contains on topic=habits: mean 0.000 is below the slice minimum 0.6" in (
        result.stdout
    )
    assert "topic: (none) n=2, body n=3, habits n=3" in result.stdout
    assert '<failure message="contains on topic=habits: mean 0.000' in junit
    assert "| min | contains | `topic=habits` | 3 |" in summary and "❌ fail" in summary
    # The HTML report renders from the same document: the run carries the slice gate.
    from llmops.dashboard.build import run_payload

    payload = run_payload(run)
    checks = payload["runs"][payload["meta"]["single_run"]]["slices"]["checks"]
    assert [(c["slice"], c["status"]) for c in checks if c["status"] == "fail"] == [
        ("habits", "fail")
    ]


def test_junit_lists_slice_checks_and_skips_too_few(project: Project) -> None:
    attrs = _groups({"big": 12, "tiny": 3})
    run = _gate(
        {i: 0.8 for i in attrs},
        attrs,
        {"by": ["group"], "rules": [{"metric": "rouge-l", "min": 0.5}]},
    )
    junit = to_junit(run)
    assert 'name="rouge-l on group=big (n=12)"' in junit
    assert '<skipped message="rouge-l on group=tiny: too few items: n=3' in junit


# --------------------------------------------------------------------------------------------
# The shipped python-docs golden set and suite
# --------------------------------------------------------------------------------------------


def test_shipped_attributes_are_derived_from_the_records(repo_root: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(repo_root / "scripts/golden_attributes.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout


def _shipped_run(repo_root: Path, break_area: str | None) -> RunResult:
    """The shipped baseline's item scores as a run (unchanged, or one area broken)."""
    suite = load_suite(repo_root / "evals/python-docs.yaml")
    baseline = json.loads(suite.baseline_path.read_text())
    golden = {r.id: r for r in load_golden_set(repo_root / str(suite.dataset))}
    metrics = [create_metric(m) for m in suite.metrics if m.name in baseline["metrics"]]
    rows = []
    for item_id, record in golden.items():
        results = {}
        for metric in metrics:
            score = baseline["metrics"][metric.spec.name]["items"].get(item_id)
            if score is None:
                continue
            if (
                break_area
                and record.attributes["area"] == break_area
                and metric.spec.name == "semantic-similarity"
            ):
                score = max(0.0, score - 0.25)  # the answers of one area go wrong
            results[metric.spec.name] = MetricResult.scored(score, metric.threshold)
        rows.append(
            ItemRow(
                id=item_id,
                input=record.question,
                attributes=dict(record.attributes),
                output=TargetOutput(answer="a"),
                metrics=results,
            )
        )
    run = RunResult(
        suite=suite.suite_name, started_at="2026-12-06T00:00:00Z", items=len(rows), rows=rows
    )
    summarize(run, metrics, suite.gate)
    apply_gate(run, metrics, suite.gate, baseline, slices=suite.slices)
    return run


def test_shipped_slice_rule_trips_on_a_broken_slice(repo_root: Path) -> None:
    healthy = _shipped_run(repo_root, None)
    assert healthy.slices is not None and healthy.slices.passed, [
        c.reason for c in healthy.slices.failed
    ]
    assert healthy.passed
    sizes = {(r.by, r.value): r.items for r in healthy.slices.slices}
    assert sizes[("area", "stdlib")] == 22 and sizes[("kind", "yes-no")] == 7
    assert any(c.status == "too few items" for c in healthy.slices.checks)  # kind=yes-no (n=7)
    broken = _shipped_run(repo_root, "stdlib")
    assert broken.slices is not None and not broken.passed
    labels = {c.label for c in broken.slices.failed}
    assert "area=stdlib" in labels
    assert not {"area=language", "kind=how"} & labels


def test_golden_record_schema_is_shipped_and_validates_the_golden_sets(repo_root: Path) -> None:
    import jsonschema

    from llmops.evals.schema import GOLDEN_SCHEMA_PATH, golden_schema_text

    assert GOLDEN_SCHEMA_PATH.read_text(encoding="utf-8") == golden_schema_text(), (
        "regenerate it: python -m llmops.evals.schema"
    )
    schema = json.loads(golden_schema_text())
    for path in sorted((repo_root / "golden_sets").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            jsonschema.validate(json.loads(line), schema)
    bad = {"id": "x", "input": "q", "attributes": {"tags": "no"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
