"""The drift monitor rule: measure drift on logged inputs (or a batch); retrain and gate on fire."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmops.errors import NotFoundError, StateError

if TYPE_CHECKING:
    import pandas as pd

    from llmops.config import Settings
    from llmops.mlmodels.drift import DriftReport
    from llmops.mlmodels.registry import PromotionResult
    from llmops.mlmodels.spec import ModelSpec
    from llmops.mlmodels.training import TrainResult

__all__ = ["MonitorResult", "logged_inputs", "run_drift_rule"]


@dataclass
class MonitorResult:
    """What one evaluation of the drift rule found and did."""

    model: str
    champion: str
    source: str
    report: DriftReport
    retrained: TrainResult | None = None
    promotion: PromotionResult | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary."""
        from dataclasses import asdict

        out: dict[str, Any] = {
            "model": self.model,
            "champion": self.champion,
            "source": self.source,
            "drift": self.report.model_dump(mode="json"),
            "notes": self.notes,
            "retrained": None,
            "promotion": asdict(self.promotion) if self.promotion else None,
        }
        if self.retrained is not None:
            r = self.retrained
            out["retrained"] = {
                "run_id": r.run_id,
                "version": r.version,
                "metrics": r.metrics,
                "threshold_failures": r.threshold_failures,
                "rows": r.rows,
            }
        return out


def logged_inputs(
    settings: Settings, name: str, *, limit: int = 5000, trace_url: str | None = None
) -> pd.DataFrame:
    """Return the rows the champion scored through the gateway (newest first, up to ``limit``).

    Traces are read from ``trace_url``, else where the project's gateway writes them.
    """
    import pandas as pd

    from llmops.mlmodels.serving import prediction_route
    from llmops.traces import TraceStore
    from llmops.traces.locate import project_trace_url

    url = trace_url or project_trace_url(settings)
    store = TraceStore(url)
    try:
        traces = store.query(route=prediction_route(name), arm="champion", limit=limit)
    finally:
        store.close()
    rows: list[dict[str, Any]] = []
    for trace in traces:
        if trace.get("status") == 200 and trace.get("extra"):
            rows.extend(trace["extra"].get("inputs") or [])
        if len(rows) >= limit:
            break
    if not rows:
        raise NotFoundError(
            f"no logged predictions for model '{name}' in the trace store {url}",
            hint="serve traffic through the gateway first, pass --traces URL (where the "
            "gateway writes traces), or pass --batch FILE",
        )
    return pd.DataFrame.from_records(rows[:limit])


def _retrain_data(spec: ModelSpec, batch: pd.DataFrame, labelled: bool) -> pd.DataFrame | None:
    import pandas as pd

    from llmops.mlmodels.data import load_dataset

    mode = spec.monitor.retrain.data
    if mode == "dataset":
        return load_dataset(spec)
    if not labelled:
        return None
    if mode == "batch":
        return batch
    return pd.concat([load_dataset(spec), batch], ignore_index=True)


def run_drift_rule(
    spec: ModelSpec,
    settings: Settings,
    *,
    batch: pd.DataFrame | None = None,
    source: str | None = None,
    retrain: bool | None = None,
    trace_url: str | None = None,
) -> MonitorResult:
    """Measure drift of ``batch`` (default: logged inputs) against the champion's profile.

    When the rule fires and retraining is on (``retrain``, else ``monitor.retrain.enabled``),
    train on the newest data, register the result as challenger and promote it only if it
    passes the gate against the current champion.
    """
    from llmops.mlmodels import registry
    from llmops.mlmodels.drift import measure_drift
    from llmops.mlmodels.tracking import connect
    from llmops.mlmodels.training import TrainOptions, train
    from llmops.mlmodels.validation import Columns, check_frame

    client = connect(settings)
    champion = registry.get_alias(client, spec.name, registry.CHAMPION)
    if champion is None:
        raise StateError(
            f"model '{spec.name}' has no champion to compare against",
            hint=f"train and promote one first: llmops model train ... && llmops model promote {spec.name}",
        )
    profile = registry.run_profile(client, champion.run_id)
    if batch is None:
        from llmops.traces.locate import project_trace_url

        trace_url = trace_url or project_trace_url(settings)
        batch = logged_inputs(settings, spec.name, trace_url=trace_url)
        source = source or f"trace store ({trace_url})"
    source = source or "batch"
    numeric = [c.name for c in profile.features if c.kind == "numeric"]
    categorical = [c.name for c in profile.features if c.kind == "categorical"]
    # Schema and types must hold before statistics mean anything; the statistics are the point.
    batch = check_frame(
        batch,
        Columns(numeric, categorical, None, spec.task),
        spec.validation,
        source=source,
        compare_stats=False,
    )
    report = measure_drift(profile, batch, spec.monitor.drift)
    result = MonitorResult(spec.name, str(champion.version), source, report)
    enabled = spec.monitor.retrain.enabled if retrain is None else retrain
    if not report.fired:
        return result
    if not enabled:
        result.notes.append("retraining is off (monitor.retrain.enabled / --no-retrain)")
        return result
    labelled = spec.target in batch.columns and batch[spec.target].notna().all()
    data = _retrain_data(spec, batch, bool(labelled))
    if data is None:
        result.notes.append(
            f"cannot retrain on the batch: it has no '{spec.target}' labels "
            "(set monitor.retrain.data: dataset to retrain on the refreshed dataset file)"
        )
        return result
    trained = train(
        spec,
        settings,
        data=data,
        source=f"retrain on {spec.monitor.retrain.data} ({source})",
        options=TrainOptions(
            compare_stats=False,
            tags={"llmops.trigger": "drift", "llmops.drift_reason": report.reason},
        ),
    )
    if trained.unchanged_since is not None:
        result.notes.append(
            f"the retraining data is unchanged since v{trained.unchanged_since} (dataset "
            f"{trained.dataset_hash[:12]}): no new version; refresh the data to retrain"
        )
        return result
    result.retrained = trained
    if trained.version is None:
        result.notes.append("the retrained model missed the spec's thresholds; not registered")
        return result
    result.promotion = registry.promote(client, spec, trained.version)
    return result
