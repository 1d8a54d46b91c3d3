"""One table from error type to HTTP status and OpenAI error code, for every route and stream.

Every failure a client can see goes through ``api_error_for``: the completion fast path, the
FastAPI routes (exception handlers), streamed answers (in-band error events) and shadow traces.
Adding an error type, or an upstream status to map, is one row here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from llmops.errors import (
    CheckFailedError,
    ConfigError,
    GuardrailBlockedError,
    LLMOpsError,
    NotFoundError,
    StateError,
    UpstreamError,
    UsageError,
)
from llmops.gateway.responses import ApiError

__all__ = [
    "ERRORS",
    "UPSTREAM_STATUSES",
    "ErrorRule",
    "api_error_for",
    "http_error",
    "upstream_error",
]

log = logging.getLogger("llmops.gateway")


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """What a client gets for one kind of failure."""

    status: int
    code: str | None
    #: Upstream rules only: pass the upstream's Retry-After on to the client.
    retry_after: bool = False


#: llmops errors by class; the most specific class in an exception's MRO wins.
ERRORS: dict[type[LLMOpsError], ErrorRule] = {
    NotFoundError: ErrorRule(404, "not_found"),
    UsageError: ErrorRule(400, "invalid_request"),
    CheckFailedError: ErrorRule(400, "check_failed"),
    GuardrailBlockedError: ErrorRule(400, "guardrail_blocked"),
    # State problems (no served index yet, a store held by another process) pass: retry later.
    StateError: ErrorRule(503, "service_unavailable"),
    # A file the operator edits is invalid (admin reload, index run): the request cannot work.
    ConfigError: ErrorRule(400, "config_error"),
    LLMOpsError: ErrorRule(500, "gateway_error"),
}

#: A final upstream failure (after retries and fallbacks) by the upstream's HTTP status;
#: ``"connect"`` is a connection that never opened, ``None`` anything else.
UPSTREAM_STATUSES: dict[int | str | None, ErrorRule] = {
    429: ErrorRule(429, "upstream_rate_limited", retry_after=True),
    503: ErrorRule(503, "upstream_unavailable", retry_after=True),
    # The upstream refused the gateway's own credentials or configured model: not the client's
    # key or model, so never a 401/404 to the client.
    401: ErrorRule(502, "upstream_auth_failed"),
    403: ErrorRule(502, "upstream_auth_failed"),
    404: ErrorRule(502, "upstream_not_found"),
    504: ErrorRule(504, "upstream_timeout"),
    408: ErrorRule(504, "upstream_timeout"),
    "connect": ErrorRule(502, "upstream_unreachable"),
    None: ErrorRule(502, "upstream_error"),
}


def upstream_error(exc: UpstreamError) -> ApiError:
    """Map a final upstream failure to the status an OpenAI client expects."""
    rule = UPSTREAM_STATUSES.get(exc.status)
    if rule is None:
        rule = UPSTREAM_STATUSES["connect" if exc.connect_error else None]
    headers: dict[str, str] = {}
    if rule.retry_after and exc.retry_after is not None:
        headers["retry-after"] = f"{max(1, round(exc.retry_after))}"
    return ApiError(
        rule.status,
        exc.message,
        code=rule.code,
        type_="api_error" if rule.status >= 500 else None,
        headers=headers,
    )


def _rule(exc: LLMOpsError) -> ErrorRule:
    for cls in type(exc).__mro__:
        rule = ERRORS.get(cls)
        if rule is not None:
            return rule
    return ERRORS[LLMOpsError]


def api_error_for(exc: BaseException, request_id: str | None = None) -> ApiError:
    """Return the OpenAI-style error a client gets for ``exc`` (never a traceback).

    Anything that is not an llmops error is a gateway bug: it is logged with its traceback and
    the client gets a 500 naming the request id.
    """
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, UpstreamError):
        return upstream_error(exc)
    if isinstance(exc, LLMOpsError):
        rule = _rule(exc)
        code = exc.code if isinstance(exc, GuardrailBlockedError) else rule.code
        message = exc.message + (f" ({exc.hint})" if exc.hint else "")
        return ApiError(rule.status, message, code=code)
    log.error("request %s failed", request_id or "-", exc_info=exc)
    where = f" (request id {request_id})" if request_id else ""
    return ApiError(500, f"internal gateway error{where}", code="internal_error")


def http_error(status: int, method: str, path: str, allow: str | None = None) -> ApiError:
    """Return the error for a request no route takes: unknown path (404) or method (405)."""
    if status == 405:
        message = f"method {method} is not allowed on {path}" + (f"; use {allow}" if allow else "")
        return ApiError(
            405,
            message,
            code="method_not_allowed",
            headers={"allow": allow} if allow else None,
        )
    if status == 404:
        message = f"unknown path {path}; GET /openapi.json lists the routes this gateway serves"
        return ApiError(404, message, code="not_found")
    return ApiError(status, f"{method} {path} failed with HTTP {status}", code="http_error")
