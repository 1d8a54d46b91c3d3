"""Run in a fresh interpreter with the example plugin on sys.path; print what llmops found.

Used by tests/core/test_plugins.py: the plugin is discovered only through its entry points.
Argument: a scratch project folder. Prints one JSON object.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml


def _error(call: Any) -> str:
    from llmops.errors import LLMOpsError

    try:
        call()
    except LLMOpsError as exc:
        return str(exc)
    return "no error"


def guards() -> dict[str, Any]:
    from llmops.guards import GuardPipeline, available_guards, get_guard_info
    from llmops.guards.config import GuardsConfig

    out: dict[str, Any] = {"available": available_guards()}
    cfg = GuardsConfig.model_validate(
        {"engine": "direct", "input": [{"name": "no_digits", "on_fail": "fix"}]}
    )
    verdict = GuardPipeline.from_config(cfg).check_input(
        [{"role": "user", "content": "call me on 555 1234"}]
    )
    out["verdict"] = {"action": verdict.action, "text": verdict.text}
    out["unknown"] = _error(lambda: get_guard_info("no_digit"))
    out["broken"] = _error(lambda: get_guard_info("broken_guard"))
    out["after_broken"] = get_guard_info("pii").name  # unrelated lookups still work
    return out


def evals(root: Path) -> dict[str, Any]:
    from llmops.config import load_settings
    from llmops.evals import load_suite, run_suite
    from llmops.testing import Reply, ScriptedLLMServer

    answers = {"Shout?": "YES I SHOUT", "Whisper?": "no, I whisper"}
    (root / "llmops.yaml").write_text("project: plugin-test\n", encoding="utf-8")
    golden = root / "golden_sets" / "g.jsonl"
    golden.parent.mkdir(parents=True)
    golden.write_text(
        "".join(
            json.dumps({"id": f"q{i}", "input": q, "reference": a}) + "\n"
            for i, (q, a) in enumerate(answers.items())
        ),
        encoding="utf-8",
    )
    (root / "evals").mkdir()
    out: dict[str, Any] = {}
    with ScriptedLLMServer(models=("test-model",)) as llm:
        llm.set_responder(lambda body: Reply(content=answers[body["messages"][-1]["content"]]))
        for name, metric in (("shout", "shouting"), ("typo", "shoutin")):
            suite = {
                "dataset": "golden_sets/g.jsonl",
                "target": {"type": "http", "url": llm.base_url, "model": "test-model"},
                "metrics": [{"type": metric}],
                "concurrency": 1,
                "retries": 0,
                "timeout": 5,
            }
            path = root / "evals" / f"{name}.yaml"
            path.write_text(yaml.safe_dump(suite), encoding="utf-8")
        result = run_suite(load_suite(root / "evals" / "shout.yaml"), load_settings(root))
        out["scores"] = {r.id: r.metrics["shouting"].score for r in result.rows}
        out["unknown"] = _error(lambda: load_suite(root / "evals" / "typo.yaml"))
    return out


if __name__ == "__main__":
    print(json.dumps({"guards": guards(), "evals": evals(Path(sys.argv[1]))}))
