"""Judging the judge: the hand-labelled set, the recorded target and the calibration gate."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from evals_helpers import Project, is_judge_call

from llmops.evals import load_suite, run_suite
from llmops.evals.golden import load_golden_set
from llmops.testing import Reply, ScriptedLLMServer

SUPPORT = {"supported", "partial", "unsupported", "contradicted", "abstain"}


def test_shipped_judge_set_is_hand_labelled_and_balanced(repo_root: Path) -> None:
    records = list(load_golden_set(repo_root / "golden_sets/python-docs-judged.jsonl"))
    assert len(records) >= 100
    golden = {r.id for r in load_golden_set(repo_root / "golden_sets/python-docs.jsonl")}
    for r in records:
        assert r.labels["support"] in SUPPORT, r.id
        assert r.labels["faithful"] == (r.labels["support"] in ("supported", "abstain")), r.id
        assert isinstance(r.labels["reason"], str) and len(r.labels["reason"]) > 10, r.id
        assert isinstance(r.vars["answer"], str) and r.vars["origin"] in ("smollm2", "constructed")
        contexts = r.vars["contexts"]
        assert [c["id"] for c in contexts] == [f"c{i}" for i in range(1, len(contexts) + 1)]
        assert r.id.rsplit("-", 1)[0] in golden  # answers to the golden questions
    origins = Counter(r.vars["origin"] for r in records)
    assert origins["smollm2"] >= 60 and origins["constructed"] >= 30
    kinds = Counter(r.labels["support"] for r in records)
    assert min(kinds[k] for k in ("supported", "partial", "contradicted")) >= 20


@pytest.mark.parametrize(
    "name", ["python-docs-smollm2", "python-docs-smollm2-demo", "judge-calibration"]
)
def test_shipped_suites_validate(repo_root: Path, name: str) -> None:
    import jsonschema
    import yaml

    from llmops.evals.schema import SCHEMA_PATH

    path = repo_root / "evals" / f"{name}.yaml"
    jsonschema.validate(yaml.safe_load(path.read_text()), json.loads(SCHEMA_PATH.read_text()))
    suite = load_suite(path)
    assert all(f.is_file() for f in suite.dataset_files)
    if name == "judge-calibration":
        assert suite.target.type == "recorded" and suite.judge.min_kappa is not None
    else:
        assert suite.baseline_path.is_file()


def _labelled(answer_ok: list[bool]) -> list[dict[str, Any]]:
    records = []
    for i, ok in enumerate(answer_ok, start=1):
        records.append(
            {
                "id": f"j{i}",
                "input": f"What colour is thing {i}?",
                "reference": f"Thing {i} is blue.",
                "labels": {"faithful": ok, "support": "supported" if ok else "contradicted"},
                "vars": {
                    "answer": f"Thing {i} is {'blue' if ok else 'red'}.",
                    "contexts": [{"id": "c1", "text": f"Thing {i} is blue."}],
                },
            }
        )
    return records


@pytest.fixture
def calibration(project: Project, judge: ScriptedLLMServer, repo_root: Path) -> Project:
    shutil.copytree(repo_root / "prompts", project.root / "prompts")
    project.golden(_labelled([True, True, False, False, True, False]), "golden_sets/judged.jsonl")
    shipped = (repo_root / "evals/judge-calibration.yaml").read_text()
    project.write("evals/cal.yaml", shipped.replace("python-docs-judged.jsonl", "judged.jsonl"))
    return project


def _judge(says_supported: Any) -> Any:
    """A scripted judge-faithfulness verdict: pass or fail as ``says_supported`` decides."""

    def respond(body: dict[str, Any]) -> Reply:
        assert is_judge_call(body)
        user = body["messages"][-1]["content"]
        answer = user.split("Answer to evaluate:\n", 1)[1].strip()
        ok = says_supported(answer)
        reply = {"score": 1.0 if ok else 0.0, "verdict": "pass" if ok else "fail", "reason": "r"}
        return Reply(content=json.dumps(reply))

    return respond


def test_a_judge_that_calls_everything_supported_fails_the_gate(
    calibration: Project, llm: ScriptedLLMServer, cli: Any
) -> None:
    llm.set_responder(_judge(lambda answer: True))
    result = cli("eval", "run", "evals/cal.yaml", "--gate", "--no-progress", cwd=calibration.root)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "calibration faithfulness: n=6 accuracy=0.5 kappa=0.0" in result.stdout
    assert "FAILED: judge agreement kappa 0.00 < min_kappa 0.40" in result.stdout
    # nothing answered the questions: the recorded answers and contexts went to the judge
    prompts = [r["json"]["messages"][-1]["content"] for r in llm.requests]
    assert len(prompts) == 6 and any("Thing 3 is red." in p for p in prompts)
    fmt = llm.requests[0]["json"]["response_format"]
    # structured outputs: judge-faithfulness@production leaves the verdict schema to llmops
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"]["required"] == [
        "score",
        "verdict",
        "reason",
    ]


def test_a_judge_that_agrees_with_the_labels_passes(
    calibration: Project, llm: ScriptedLLMServer
) -> None:
    llm.set_responder(_judge(lambda answer: answer.endswith("blue.")))
    run = run_suite(load_suite(calibration.root / "evals/cal.yaml"), calibration.settings())
    figures = run.calibration["faithfulness"]
    assert figures["n"] == 6 and figures["kappa"] == 1.0 and "reason" not in figures
    assert run.passed is True
    assert {r.lineage.upstream for r in run.rows} == {"recorded"}


def test_recorded_target_needs_an_answer(calibration: Project) -> None:
    from llmops.errors import ConfigError
    from llmops.evals.recorded import RecordedTarget
    from llmops.evals.suite import TargetSpec

    target = RecordedTarget(TargetSpec(type="recorded"), calibration.settings())
    record = load_golden_set(calibration.root / "golden_sets/judged.jsonl").records[0]
    call = target.prepare(record)
    assert call.contexts == [{"id": "c1", "text": "Thing 1 is blue.", "source": None}]
    bare = record.model_copy(update={"vars": {}})
    with pytest.raises(ConfigError, match="needs vars.answer"):
        target.prepare(bare)
