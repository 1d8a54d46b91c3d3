"""The judge for real: SmolLM2 on vLLM answers the shipped rubrics with structured outputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from llmops.config import load_settings
from llmops.evals import load_suite, run_suite
from llmops.vllm.launcher import VllmServer

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def test_shipped_rubrics_parse_first_time_on_the_real_model(
    smollm2: VllmServer, repo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(repo_root / "prompts", tmp_path / "prompts")
    (tmp_path / "llmops.yaml").write_text("project: real-judge\n")
    lines = (repo_root / "golden_sets/python-docs-judged.jsonl").read_text().splitlines()
    picked = [json.loads(x) for x in lines if json.loads(x)["id"].startswith("pydocs-010-")]
    assert {r["labels"]["support"] for r in picked} >= {"supported", "contradicted"}
    (tmp_path / "golden_sets").mkdir()
    (tmp_path / "golden_sets/j.jsonl").write_text("".join(json.dumps(r) + "\n" for r in picked))
    suite = {
        "dataset": "golden_sets/j.jsonl",
        "target": {"type": "recorded"},
        "metrics": [
            {"type": "judge-rag", "metric": "faithfulness"},
            {"type": "judge-rag", "metric": "context_precision"},
            {"type": "judge", "metric": "verdict", "value": "judge-faithfulness@production"},
        ],
        "concurrency": 8,
        "timeout": 600,
        "retries": 0,
    }
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals/j.yaml").write_text(yaml.safe_dump(suite))
    monkeypatch.setenv("LLMOPS_JUDGE_BASE_URL", smollm2.base_url)
    monkeypatch.setenv("LLMOPS_JUDGE_MODEL", "smollm2-135m-instruct")
    run = run_suite(load_suite(tmp_path / "evals/j.yaml"), load_settings(tmp_path))
    statuses = [m.status for row in run.rows for m in row.metrics.values()]
    assert "error" not in statuses, [
        (row.id, name, m.reason) for row in run.rows for name, m in row.metrics.items()
    ]
    # structured outputs: every verdict parsed on the first reply, no repair turn was needed
    assert run.calls.judge_calls == 2 * len(picked)
    for row in run.rows:
        precision = row.metrics["context_precision"]
        assert precision.score is not None and 0.0 <= precision.score <= 1.0
