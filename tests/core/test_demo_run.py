"""The demo's real steps (prompts, index, query, serve, eval) on a copy of the sample project.

The pipeline reads a folder holding the Language Reference topics a few golden questions need
(exported with the same code as the sample corpus), and the golden set is cut to those questions
plus three unanswerable ones, so the run stays short; the steps, commands
and gateway are the ones ``make demo --offline`` runs. The gateway answers from the extractive
fallback (``--offline``): no vLLM server is started here.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest

from llmops.demo import Demo, default_steps
from llmops.rag.corpus import export_python_docs

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TOPICS = ["global", "nonlocal", "pass", "assert", "try", "lambda", "while", "break", "continue"]


def _sample_project(dest: Path) -> Path:
    dest.mkdir()
    shutil.copy(REPO / "llmops.yaml", dest / "llmops.yaml")
    for folder in ("prompts", "rag_pipelines"):
        shutil.copytree(REPO / folder, dest / folder)
    (dest / "serving").mkdir()
    shutil.copy(REPO / "serving" / "gateway.yaml", dest / "serving" / "gateway.yaml")
    (dest / "evals").mkdir()
    shutil.copy(REPO / "evals" / "python-docs.yaml", dest / "evals" / "python-docs.yaml")
    pipeline = dest / "rag_pipelines" / "python-docs.yaml"
    text = pipeline.read_text(encoding="utf-8")
    export_python_docs(dest / "corpus", topics=TOPICS, modules=[])
    (dest / "corpus" / "VERSION").unlink()
    cut = "  - type: directory\n    path: corpus\n"
    assert "  - type: pydoc\n" in text
    pipeline.write_text(text.replace("  - type: pydoc\n", cut, 1), encoding="utf-8")
    wanted = {f"topics/{t}.md" for t in TOPICS}
    rows = [
        json.loads(line)
        for line in (REPO / "golden_sets" / "python-docs.jsonl").read_text("utf-8").splitlines()
    ]
    unanswerable = [r for r in rows if not r.get("answerable", True)][:3]
    kept = [
        r for r in rows if r.get("answerable", True) and set(r["reference_sources"]) <= wanted
    ] + unanswerable
    (dest / "golden_sets").mkdir()
    (dest / "golden_sets" / "python-docs.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8"
    )
    return dest


def test_the_demo_runs_its_real_steps_on_a_small_corpus(tmp_path: Path) -> None:
    root = _sample_project(tmp_path / "sample")
    out = io.StringIO()
    demo = Demo(root, out=out)
    code = demo.run(default_steps(offline=True))
    log = out.getvalue()
    print("\n".join(line for line in log.splitlines() if line.startswith("---")))  # step times
    assert code == 0, log
    names = ["prompts", "index", "query", "serve", "eval"]
    for number, name in enumerate(names, start=1):
        assert f"=== [{number}/{len(names)}] {name}:" in log
    assert "$ llmops index run python-docs" in log
    assert "gateway stopped cleanly" in log
    assert "demo finished: 5 steps" in log
    manifests = list(Path(os.environ["LLMOPS_HOME"]).rglob("rag/python-docs/manifests/*.json"))
    assert manifests, "the index step wrote no manifest"
    served = json.loads(manifests[0].read_text("utf-8"))
    sources = {d.split("/", 1)[0] for d in served["documents"]}
    assert sources == {"topics"} and served["counts"]["files"] == len(TOPICS)
