"""Contract: schemathesis drives every operation of the gateway's own OpenAPI document and
fails on any 5xx and any response the document does not describe (status, content type,
body schema). Examples are bounded and derandomized, so the run is repeatable and takes seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fake_embedders
import httpx
import pytest
from gateway_helpers import http_pool, running_gateway

from llmops.gateway import GatewayServer
from llmops.gateway.credential import read_credential
from llmops.testing import ScriptedLLMServer

EXAMPLES = 12


@pytest.fixture(scope="module")
def gw(upstream: ScriptedLLMServer) -> Iterator[GatewayServer]:
    config = {
        "upstreams": {"up": http_pool(upstream.base_url)},
        "routes": {"chat": {"upstream": "up"}},
    }
    with pytest.MonkeyPatch.context() as mp:
        # The contract, not the model: a hash embedder keeps the run in seconds.
        mp.setenv("LLMOPS_EMBEDDING_MODEL", "recording:schemathesis")
        assert fake_embedders.DIM  # registers the "recording" backend
        with running_gateway(config) as server:
            yield server


def _known_models(doc: dict[str, Any], routes: list[str], embedders: list[str]) -> dict[str, Any]:
    """Return ``doc`` with model names drawn from the served ones (so cases reach the answers,
    not only the 404s); every other field stays as the gateway documents it."""
    schemas = doc["components"]["schemas"]
    for name in ("ChatCompletionRequest", "CompletionRequest"):
        schemas[name]["properties"]["model"]["enum"] = routes
    schemas["EmbeddingRequest"]["properties"]["model"]["enum"] = embedders
    for param in doc["paths"]["/v1/models/{model_id}"]["get"]["parameters"]:
        if param["name"] == "model_id":
            param["schema"]["enum"] = routes + embedders
    return doc


def _runner(operation: Any, gw: GatewayServer, checks: list[Any], out: dict[str, Any]) -> Any:
    from hypothesis import HealthCheck, given, settings

    name = f"{operation.method.upper()} {operation.path}"

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        try:
            response = case.call_and_validate(
                base_url=gw.url, headers=out["headers"], checks=checks, timeout=60
            )
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failures
            out["failures"].append(f"{name}: {exc}"[:2000])
            return
        out["seen"].setdefault(name, set()).add(response.status_code)

    return run


def test_every_operation_matches_the_document(gw: GatewayServer) -> None:
    import schemathesis
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

    doc = httpx.get(gw.url + "/openapi.json").json()
    schema = schemathesis.openapi.from_dict(_known_models(doc, ["chat"], ["all-MiniLM-L6-v2"]))
    # The admin routes answer too: the local admin credential works with auth off.
    assert gw.runtime.credential is not None
    credential = read_credential(gw.runtime.credential.parent.parent)
    assert credential is not None
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/models",
        "/v1/models/{model_id}",
        "/readyz",
        "/metrics",
    }
    headers = {"authorization": f"Bearer {credential.token}"}
    out: dict[str, Any] = {"failures": [], "seen": {}, "headers": headers}
    for operation in operations:
        _runner(operation, gw, checks, out)()
    assert not out["failures"], "\n\n".join(out["failures"][:10])
    # The runs reached real answers, not only refusals.
    seen = out["seen"]
    for name in (
        "GET /v1/models/{model_id}",
        "POST /v1/embeddings",
        "POST /v1/chat/completions",
        "POST /v1/completions",
        "GET /admin/upstreams",
    ):
        assert 200 in seen[name], (name, seen[name])
