"""MLflow logging: one run per suite execution in a real local sqlite store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from evals_helpers import Project, knowing_responder

from llmops.testing import ScriptedLLMServer


def test_eval_run_logs_one_mlflow_run(
    cli: Any, project: Project, llm: ScriptedLLMServer, make_suite: Callable[..., Path]
) -> None:
    llm.set_responder(knowing_responder)
    make_suite(
        metrics=[{"type": "contains", "options": {"only": "answerable"}}, {"type": "hallucination"}]
    )
    result = cli("eval", "run", "--mlflow", cwd=project.root)
    assert result.exit_code == 0, result.stderr
    run_id = result.stdout.split("mlflow run: ")[1].split()[0]

    import mlflow

    settings = project.settings()
    client = mlflow.MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    run = client.get_run(run_id)
    assert run.data.metrics["contains.mean"] == 1.0
    assert run.data.metrics["hallucination.pass_rate"] == 1.0
    assert run.data.params["lineage.dataset_hash"]
    assert run.data.params["lineage.upstream_model"] == "test-model"
    assert run.data.tags["llmops.suite"] == "facts"
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"results.json", "report.html"} <= artifacts
