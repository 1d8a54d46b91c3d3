"""The MLflow connection: tracking URI from settings, a fast reachability check, experiments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmops.errors import StateError, UpstreamConnectError, UpstreamError

if TYPE_CHECKING:
    from llmops.config import Settings

__all__ = ["connect", "experiment_id", "tracking_uri"]

# A down server must fail in seconds, not after MLflow's default retries (minutes).
PROBE_TIMEOUT = 3.0


def tracking_uri(settings: Settings) -> str:
    """Return the tracking URI (sqlite under the state root unless configured)."""
    return settings.mlflow_tracking_uri


def _probe(uri: str) -> None:
    import httpx

    url = uri.rstrip("/") + "/health"
    hint = (
        "start the server, or point mlflow.tracking_uri in llmops.yaml "
        "(or LLMOPS_MLFLOW_TRACKING_URI) at a reachable one"
    )
    try:
        response = httpx.get(url, timeout=PROBE_TIMEOUT)
    except httpx.HTTPError as exc:
        raise UpstreamConnectError(
            f"cannot reach the MLflow tracking server at {uri} ({type(exc).__name__}: {exc})",
            provider="mlflow",
            hint=hint,
        ) from None
    if response.status_code >= 400:
        raise UpstreamError(
            f"the MLflow tracking server at {uri} answered {response.status_code} on /health",
            provider="mlflow",
            status=response.status_code,
            hint=hint,
        )


def connect(settings: Settings) -> Any:
    """Point MLflow at the configured store and return an ``MlflowClient``.

    HTTP servers are probed first so that an unreachable URI is one clear error, fast.
    """
    uri = tracking_uri(settings)
    registry = settings.mlflow.registry_uri or uri
    if uri.startswith(("http://", "https://")):
        _probe(uri)
    elif uri.startswith("sqlite:///"):
        from pathlib import Path

        db = Path(uri.removeprefix("sqlite:///"))
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create the MLflow store folder {db.parent}: {exc}") from None
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(registry)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=registry)


def experiment_id(client: Any, name: str, settings: Settings) -> str:
    """Return the id of experiment ``name``, creating it on first use.

    With a local ``sqlite:///`` store, artifacts go under the state root (MLflow's default is
    ``./mlruns`` in whatever folder the command ran in); a server decides for itself.
    """
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = None
    if tracking_uri(settings).startswith("sqlite:"):
        location = (settings.state_path / "mlartifacts").as_uri()
    return str(client.create_experiment(name, artifact_location=location))
