"""MLflow: one run per suite execution (params: the lineage; metrics; artifacts: JSON + HTML).

The tracking URI is ``mlflow.tracking_uri`` from llmops.yaml, by default an sqlite store under
the state root.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmops.evals.records import RunResult

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.evals.report.files import OutputPaths

__all__ = ["log_to_mlflow"]


def _flatten(prefix: str, value: object, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif value is not None:
        out[prefix] = str(value)[:500]


def log_to_mlflow(run: RunResult, paths: OutputPaths, settings: Settings) -> str:
    """Log ``run`` as an MLflow run; return its run id."""
    import mlflow

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_experiment(settings.mlflow.experiment)
    params: dict[str, str] = {}
    _flatten("lineage", run.lineage.model_dump(mode="json", exclude_none=True), params)
    params["suite"] = run.suite
    params["items"] = str(run.items)
    params["repeats"] = str(run.repeats)
    with mlflow.start_run(run_name=f"eval:{run.suite}") as active:
        mlflow.set_tags(
            {"llmops.kind": "eval", "llmops.suite": run.suite, "llmops.passed": str(run.passed)}
        )
        mlflow.log_params(params)
        metrics: dict[str, float] = {}
        for m in run.metrics:
            key = m.name.replace("@", "_at_")
            if m.mean is not None:
                metrics[f"{key}.mean"] = m.mean
            if m.pass_rate is not None:
                metrics[f"{key}.pass_rate"] = m.pass_rate
            if m.diff is not None:
                metrics[f"{key}.diff"] = m.diff
        if run.overall_score is not None:
            metrics["overall_score"] = run.overall_score
        metrics["model_calls"] = float(run.calls.model_calls)
        metrics["cache_hit_rate"] = run.calls.hit_rate
        metrics["wall_s"] = run.wall_s
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(paths.results))
        mlflow.log_artifact(str(paths.html))
        return str(active.info.run_id)
