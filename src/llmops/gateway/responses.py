"""OpenAI-style error bodies and the raw ASGI send helpers the hot path uses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

__all__ = [
    "ApiError",
    "Send",
    "bad_upstream",
    "error_body",
    "send_json",
    "send_start",
]

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class ApiError(Exception):
    """An error that becomes an OpenAI-style JSON body with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type_: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type_ or _TYPES.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        self.headers = headers or {}

    def body(self) -> bytes:
        """Return the JSON body."""
        return error_body(self.message, type_=self.type, code=self.code, param=self.param)

    def payload(self) -> dict[str, Any]:
        """Return the error object (for an SSE error event)."""
        return {"message": self.message, "type": self.type, "param": self.param, "code": self.code}


def bad_upstream(what: str) -> ApiError:
    """Return the 502 for an upstream answer that is not what OpenAI's API sends."""
    return ApiError(
        502,
        f"upstream returned an invalid response: {what}",
        code="upstream_invalid_response",
        type_="api_error",
    )


def error_body(
    message: str, *, type_: str = "api_error", code: str | None = None, param: str | None = None
) -> bytes:
    """Return ``{"error": {...}}`` as OpenAI sends it."""
    return orjson.dumps(
        {"error": {"message": message, "type": type_, "param": param, "code": code}}
    )


def _header_list(
    content_type: bytes, headers: list[tuple[bytes, bytes]] | None
) -> list[tuple[bytes, bytes]]:
    out = [(b"content-type", content_type)]
    if headers:
        out.extend(headers)
    return out


async def send_start(
    send: Send,
    status: int,
    headers: list[tuple[bytes, bytes]] | None = None,
    content_type: bytes = b"application/json",
) -> None:
    """Send the response start."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": _header_list(content_type, headers),
        }
    )


async def send_json(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Send a whole JSON response."""
    hdrs = _header_list(b"application/json", headers)
    hdrs.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})
