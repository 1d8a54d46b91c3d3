"""``POST /v1/models/{name}/predict``: the champion, input checks, trace logging, shadow scoring.

The router resolves ``models:/name@champion`` at most every ``ALIAS_TTL`` seconds, so a promotion
or rollback takes effect without a restart; loaded versions are cached. Inputs are
checked against the champion's training profile: a missing, unknown or mistyped column is a 422
with an OpenAI-style error body naming it. Every prediction (and every refused request) is one
row in the gateway's trace store (``route = model:<name>``), which the drift monitor reads back.
With shadow scoring on, the challenger scores the same rows after the response is sent and its
answers are logged with ``shadow_of`` the request id; they never reach the caller. With
``"explain": true`` (or a number, the contributions to show) in the body, the response also
carries each row's top SHAP contributions (tree ensembles and linear models; 422 otherwise).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

# FastAPI resolves the endpoint's annotations from this module's globals: import at the top.
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import Response

from llmops.errors import LLMOpsError

if TYPE_CHECKING:
    import pandas as pd

    from llmops.config import Settings
    from llmops.mlmodels.data import DataProfile

__all__ = ["PredictService", "make_predict_router", "prediction_route"]

MAX_ROWS = 10_000
MAX_EXPLAINED_ROWS = 100
DEFAULT_TOP = 5
MAX_TOP = 50
# A registry lookup per request costs a few ms; a promotion or rollback shows within this delay.
ALIAS_TTL = 2.0


def prediction_route(name: str) -> str:
    """Return the trace-store route under which predictions of ``name`` are logged."""
    return f"model:{name}"


class InputError(Exception):
    """A request body that does not match the training schema (becomes a 422)."""

    def __init__(
        self, message: str, *, param: str | None = None, code: str = "invalid_input"
    ) -> None:
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


def _records(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or "inputs" not in body:
        raise InputError(
            "the body must be a JSON object with 'inputs'", param="inputs", code="missing_inputs"
        )
    inputs = body["inputs"]
    if isinstance(inputs, dict):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(r, dict) for r in inputs):
        raise InputError(
            "'inputs' must be an object or a non-empty list of objects (column -> value)",
            param="inputs",
        )
    if len(inputs) > MAX_ROWS:
        raise InputError(
            f"at most {MAX_ROWS} rows per request", param="inputs", code="too_many_rows"
        )
    return inputs


def _explain_top(body: dict[str, Any], rows: int) -> int | None:
    """Return how many contributions per row the body asks for (None: no explanation)."""
    wanted = body.get("explain")
    if wanted is None or wanted is False:
        return None
    top = DEFAULT_TOP if wanted is True else wanted
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_TOP:
        raise InputError(
            f"'explain' must be true or a number of contributions from 1 to {MAX_TOP}, "
            f"got {json.dumps(wanted)}",
            param="explain",
        )
    if rows > MAX_EXPLAINED_ROWS:
        raise InputError(
            f"at most {MAX_EXPLAINED_ROWS} rows per request can be explained, got {rows}",
            param="explain",
            code="too_many_rows",
        )
    return top


def check_inputs(records: list[dict[str, Any]], profile: DataProfile) -> None:
    """Raise InputError for the first record that does not match the training schema."""
    from llmops.suggest import suggestion

    features = {c.name: c for c in profile.features}
    for i, record in enumerate(records):
        for key in record:
            if key not in features:
                raise InputError(
                    f"inputs[{i}] has unknown column '{key}'"
                    + suggestion(str(key), list(features)),
                    param=f"inputs[{i}].{key}",
                    code="unknown_column",
                )
        for name, column in features.items():
            if name not in record:
                raise InputError(
                    f"inputs[{i}] is missing column '{name}'",
                    param=f"inputs[{i}].{name}",
                    code="missing_column",
                )
            value = record[name]
            if value is None:
                continue  # the pipeline imputes nulls as it did in training
            if column.kind == "numeric" and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(float(value))
            ):
                raise InputError(
                    f"inputs[{i}].{name} must be a finite number (training dtype "
                    f"{column.dtype}), got {json.dumps(value)}",
                    param=f"inputs[{i}].{name}",
                    code="wrong_type",
                )
            if column.kind == "categorical" and not isinstance(value, str | int | bool):
                raise InputError(
                    f"inputs[{i}].{name} must be a category (string), got {json.dumps(value)}",
                    param=f"inputs[{i}].{name}",
                    code="wrong_type",
                )


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


class PredictService:
    """Loads registered versions on demand and scores records with them."""

    def __init__(
        self,
        settings: Settings,
        *,
        trace_store: Any = None,
        trace_writer: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.clock = clock  # the alias cache's clock (tests inject one)
        self._writer = trace_writer  # the gateway's batched TraceWriter, when there is one
        self._lock = threading.RLock()  # explainer() loads the model under the same lock
        self._client: Any = None
        self._models: dict[tuple[str, str], tuple[Any, DataProfile]] = {}
        self._store: Any = trace_store
        self._owns_store = trace_store is None
        self._shadow: dict[str, bool] = {}
        self._aliases: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._explainers: dict[tuple[str, str], Any] = {}

    @property
    def client(self) -> Any:
        """Return the MLflow client (connected on first use)."""
        if self._client is None:
            from llmops.mlmodels.tracking import connect

            self._client = connect(self.settings)
        return self._client

    def resolve(self, name: str, alias: str) -> str | None:
        """Return the version behind ``name@alias``, or None (cached for ``ALIAS_TTL`` s)."""
        from llmops.mlmodels.registry import get_alias

        now = self.clock()
        cached = self._aliases.get((name, alias))
        if cached is not None and now - cached[0] < ALIAS_TTL:
            return cached[1]
        found = get_alias(self.client, name, alias)
        version = str(found.version) if found is not None else None
        self._aliases[(name, alias)] = (now, version)
        return version

    def model(self, name: str, version: str) -> tuple[Any, DataProfile]:
        """Return the loaded model and its training profile (cached per version)."""
        key = (name, version)
        with self._lock:
            if key not in self._models:
                from llmops.mlmodels.registry import load_model, run_profile

                mv = self.client.get_model_version(name, version)
                self._models[key] = (
                    load_model(self.client, name, version),
                    run_profile(self.client, mv.run_id),
                )
            return self._models[key]

    def frame(self, name: str, version: str, records: list[dict[str, Any]]) -> pd.DataFrame:
        """Return ``records`` checked against the training schema, as the model's input frame."""
        import pandas as pd

        _, profile = self.model(name, version)
        check_inputs(records, profile)
        frame = pd.DataFrame.from_records(records, columns=[c.name for c in profile.features])
        for column in profile.features:
            if column.kind == "numeric":
                frame[column.name] = pd.to_numeric(frame[column.name], errors="coerce")
        return frame

    def explainer(self, name: str, version: str) -> Any:
        """Return the version's SHAP explainer (background: its held-out rows), or why not."""
        key = (name, version)
        with self._lock:
            if key not in self._explainers:
                from llmops.mlmodels.explain import shap_explainer
                from llmops.mlmodels.registry import load_holdout

                model, profile = self.model(name, version)
                mv = self.client.get_model_version(name, version)
                holdout = load_holdout(self.client, mv.run_id)
                positive = self.client.get_run(mv.run_id).data.params.get("positive_class")
                target = holdout[profile.target]
                positive = next((c for c in target.unique() if str(c) == positive), None)
                features = [c.name for c in profile.features]
                self._explainers[key] = shap_explainer(model, holdout[features], positive)
            return self._explainers[key]

    def explain(
        self, name: str, version: str, records: list[dict[str, Any]], top: int
    ) -> list[dict[str, Any]]:
        """Return each row's prediction, base value and top ``top`` SHAP contributions."""
        frame = self.frame(name, version, records)
        explainer = self.explainer(name, version)
        if isinstance(explainer, str):
            raise InputError(
                f"model '{name}' v{version} cannot explain predictions: {explainer}",
                param="explain",
                code="explain_unsupported",
            )
        rows = explainer.rows(frame, top, offset=None)
        return [r.model_dump(mode="json", exclude={"row"}) for r in rows]

    def score(self, name: str, version: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Return predictions (and class probabilities when the model has them)."""
        model, profile = self.model(name, version)
        frame = self.frame(name, version, records)
        out: dict[str, Any] = {"predictions": [_plain(v) for v in model.predict(frame)]}
        if profile.classes is not None and hasattr(model, "predict_proba"):
            try:
                proba = model.predict_proba(frame)
            except AttributeError:
                return out
            classes = [str(_plain(c)) for c in model.classes_]
            out["probabilities"] = [
                {c: round(float(p), 6) for c, p in zip(classes, row, strict=True)} for row in proba
            ]
        return out

    def shadow_enabled(self, name: str) -> bool:
        """Return the spec's ``serving.shadow`` for ``name`` (False without a spec)."""
        if name not in self._shadow:
            from llmops.mlmodels.spec import find_spec

            try:
                spec = find_spec(name, self.settings.path("models"))
                self._shadow[name] = spec.serving.shadow
            except LLMOpsError:
                self._shadow[name] = False
        return self._shadow[name]

    def log(self, **fields: Any) -> None:
        """Record one trace row; logging never fails a prediction.

        Inside the gateway the row joins its batched trace writer (no write on the request
        path); standalone, it is written at once.
        """
        from llmops.traces import TraceRecord, TraceStore

        try:
            record = TraceRecord(endpoint="predict", upstream="mlflow", **fields)
            if self._writer is not None:
                self._writer.submit(record)
                return
            with self._lock:
                if self._store is None:
                    self._store = TraceStore(self.settings.trace_url)
            self._store.write([record])
        except Exception:  # noqa: BLE001 - a broken trace store must not fail predictions
            logging.getLogger("llmops.mlmodels").exception("could not log a prediction trace")

    def shadow(
        self, name: str, records: list[dict[str, Any]], request_id: str, champion: str
    ) -> None:
        """Score ``records`` with the challenger and log the result (never raises)."""
        started = time.perf_counter()
        version = None
        try:
            version = self.resolve(name, "challenger")
            if version is None or version == champion:
                return
            result = self.score(name, version, records)
            status, error = 200, None
        except Exception as exc:  # noqa: BLE001 - a failing shadow must not affect anything
            result, status, error = {}, 500, str(exc)
        self.log(
            request_id=uuid.uuid4().hex,
            route=prediction_route(name),
            arm="challenger",
            shadow_of=request_id,
            upstream_model=f"{name}/{version}",
            status=status,
            error_message=error,
            latency_ms=(time.perf_counter() - started) * 1000,
            extra={"version": version, "inputs": records, **result},
        )

    def close(self) -> None:
        """Release the trace store connection pool (when this service opened it)."""
        if self._store is not None and self._owns_store:
            self._store.close()


def make_predict_router(
    settings: Settings,
    *,
    trace_store: Any = None,
    trace_writer: Any = None,
    clock: Callable[[], float] = time.monotonic,
) -> APIRouter:
    """Return a FastAPI router serving ``POST /v1/models/{name}/predict``.

    Predictions go to ``trace_writer`` (the gateway's batched writer), else are written to
    ``trace_store``, else to a store opened on ``settings.trace_url``.
    """
    from llmops.gateway.responses import error_body

    service = PredictService(
        settings, trace_store=trace_store, trace_writer=trace_writer, clock=clock
    )
    router = APIRouter()

    def _error(status: int, message: str, code: str, param: str | None = None) -> Response:
        type_ = "invalid_request_error" if status < 500 else "api_error"
        if status == 404:
            type_ = "not_found_error"
        body = error_body(message, type_=type_, code=code, param=param)
        return Response(body, status_code=status, media_type="application/json")

    def _work(name: str, body: Any, request_id: str, shadow: str | None) -> tuple[Response, Any]:
        started = time.perf_counter()
        try:
            version = service.resolve(name, "champion")
        except Exception as exc:  # noqa: BLE001 - any registry failure is one clear 503
            message = exc.message if isinstance(exc, LLMOpsError) else str(exc).splitlines()[0]
            return _error(
                503, f"model registry unavailable: {message}", "registry_unavailable"
            ), None
        if version is None:
            return _error(
                404,
                f"model '{name}' has no champion; promote a version first "
                f"(llmops model promote {name})",
                "model_not_found",
                "name",
            ), None
        trace = {
            "request_id": request_id,
            "route": prediction_route(name),
            "arm": "champion",
            "upstream_model": f"{name}/{version}",
        }
        explanations = None
        try:
            records = _records(body)
            top = _explain_top(body, len(records))
            result = service.score(name, version, records)
            if top is not None:
                explanations = service.explain(name, version, records, top)
        except InputError as exc:
            service.log(
                **trace,
                status=422,
                error_code=exc.code,
                error_message=exc.message,
                latency_ms=(time.perf_counter() - started) * 1000,
            )
            return _error(422, exc.message, exc.code, exc.param), None
        except Exception as exc:  # noqa: BLE001 - loading or scoring failed: 500, traced
            logging.getLogger("llmops.mlmodels").exception("prediction failed for %s", name)
            message = f"model '{name}' v{version} failed: {type(exc).__name__}: {exc}"
            service.log(
                **trace,
                status=500,
                error_code="prediction_failed",
                error_message=message,
                latency_ms=(time.perf_counter() - started) * 1000,
            )
            return _error(500, message, "prediction_failed"), None
        service.log(
            **trace,
            status=200,
            latency_ms=(time.perf_counter() - started) * 1000,
            extra={"version": version, "inputs": records, **result},
        )
        payload = {
            "id": request_id,
            "model": name,
            "version": version,
            "alias": "champion",
            **result,
            **({"explanations": explanations} if explanations is not None else {}),
        }
        response = Response(
            json.dumps(payload).encode(),
            media_type="application/json",
            headers={"x-request-id": request_id},
        )
        if shadow == "true" or (shadow is None and service.shadow_enabled(name)):
            return response, (records, version)
        return response, None

    @router.post("/v1/models/{name}/predict")
    async def predict(name: str, request: Request, background: BackgroundTasks) -> Response:
        """Score rows with the champion of ``name``."""
        from starlette.concurrency import run_in_threadpool

        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            return _error(400, "the body is not valid JSON", "invalid_json")
        # Model loading, scoring and the trace write are blocking: keep them off the event loop
        # that serves LLM traffic.
        response, shadow = await run_in_threadpool(
            _work, name, body, request_id, request.query_params.get("shadow")
        )
        if shadow is not None:
            background.add_task(service.shadow, name, shadow[0], request_id, shadow[1])
        return response

    return router
