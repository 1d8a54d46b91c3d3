"""Reading and checking request bodies without building models of them (the hot path).

Only what the gateway relies on is checked, each with the status and message OpenAI would give;
everything else is forwarded untouched for the upstream to judge.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import orjson

from llmops.gateway.responses import ApiError

__all__ = [
    "MAX_DEPTH",
    "check_chat",
    "check_completion",
    "check_depth",
    "last_user_text",
    "parse_json",
    "precheck_json",
    "read_body",
    "validation_error",
]

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

_ROLES = frozenset({"system", "user", "assistant", "tool", "function", "developer"})
#: Deepest nesting of arrays and objects a request body may have (the body itself is level 1).
#: orjson parses up to 1024 levels but encodes only 254; the gateway re-encodes bodies, so it
#: refuses deep ones up front with a 400 instead of failing later with a 500.
MAX_DEPTH = 128
#: Content part types and the field each must carry, with that field's JSON type.
_PARTS: dict[str, tuple[str, type]] = {
    "text": ("text", str),
    "image_url": ("image_url", dict),
    "input_audio": ("input_audio", dict),
    "file": ("file", dict),
    "refusal": ("refusal", str),
}


async def read_body(receive: Receive, headers: dict[bytes, bytes], limit: int) -> bytes:
    """Return the request body, refusing more than ``limit`` bytes with 413."""
    declared = headers.get(b"content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ApiError(400, "invalid Content-Length header") from None
        if size > limit:
            raise ApiError(
                413,
                f"request body of {size} bytes exceeds the limit of {limit} bytes",
                code="request_too_large",
            )
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body"):
        if len(body) > limit:
            raise ApiError(
                413, f"request body exceeds the limit of {limit} bytes", code="request_too_large"
            )
        return bytes(body)
    parts = [body]
    total = len(body)
    while message.get("more_body"):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError(400, "client disconnected while sending the body")
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise ApiError(
                413, f"request body exceeds the limit of {limit} bytes", code="request_too_large"
            )
        parts.append(chunk)
    return b"".join(parts)


def parse_json(body: bytes) -> dict[str, Any]:
    """Parse a JSON object (orjson also rejects invalid UTF-8)."""
    if not body:
        raise ApiError(400, "request body is empty; send a JSON object", code="invalid_json")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):
            raise _too_deep() from None
        raise ApiError(400, f"request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object", code="invalid_json")
    # Only a body with more brackets than the limit can be nested deeper than it.
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH:
        check_depth(data)
    return data


def precheck_json(body: bytes) -> None:
    """Refuse a too-deeply nested JSON body before a route parses it with the stdlib."""
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):
            raise _too_deep() from None
        return  # not JSON: the route says so in its own words
    check_depth(data)


def _too_deep() -> ApiError:
    return ApiError(
        400,
        f"request body nests arrays and objects more than {MAX_DEPTH} levels deep",
        code="invalid_json",
    )


def check_depth(data: Any) -> None:
    """Raise a 400 when ``data`` nests arrays and objects more than MAX_DEPTH levels deep."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        children = value.values() if isinstance(value, dict) else value
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))


def validation_error(errors: Sequence[Any]) -> ApiError:
    """Return the 400 for pydantic/FastAPI validation errors (the first one, with its param)."""
    first = errors[0] if errors else {"msg": "invalid request", "loc": ()}
    param = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
    message = str(first.get("msg", "invalid request"))
    if first.get("type") == "json_invalid":
        return ApiError(400, f"request body is not valid JSON: {message}", code="invalid_json")
    return ApiError(
        400, f"{param}: {message}" if param else message, param=param, code="invalid_request"
    )


def _common(data: dict[str, Any]) -> None:
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(
            400, "'model' is required and must be a string", param="model", code="invalid_type"
        )
    stream = data.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise ApiError(
            400,
            f"'stream' must be a boolean, got {type(stream).__name__}",
            param="stream",
            code="invalid_type",
        )
    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise ApiError(400, f"'{name}' must be an integer", param=name, code="invalid_type")
        if value < 1:
            raise ApiError(
                400, f"'{name}' must be at least 1, got {value}", param=name, code="invalid_value"
            )
    for name in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        value = data.get(name)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise ApiError(400, f"'{name}' must be a number", param=name, code="invalid_type")
    user = data.get("user")
    if user is not None and not isinstance(user, str):
        raise ApiError(400, "'user' must be a string", param="user", code="invalid_type")
    options = data.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise ApiError(
            400, "'stream_options' must be an object", param="stream_options", code="invalid_type"
        )


def check_chat(data: dict[str, Any], max_messages: int) -> None:
    """Check a chat completion request."""
    _common(data)
    messages = data.get("messages")
    if messages is None:
        raise ApiError(
            400, "'messages' is required", param="messages", code="missing_required_parameter"
        )
    if not isinstance(messages, list) or not messages:
        raise ApiError(
            400, "'messages' must be a non-empty array", param="messages", code="invalid_type"
        )
    if len(messages) > max_messages:
        raise ApiError(
            400,
            f"too many messages: {len(messages)} (limit {max_messages})",
            param="messages",
            code="too_many_messages",
        )
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise ApiError(
                400, f"messages[{i}] must be an object", param=f"messages[{i}]", code="invalid_type"
            )
        role = msg.get("role")
        if role not in _ROLES:
            raise ApiError(
                400,
                f"messages[{i}].role must be one of {', '.join(sorted(_ROLES))}",
                param=f"messages[{i}].role",
                code="invalid_value",
            )
        content = msg.get("content")
        if isinstance(content, list):
            _check_parts(content, f"messages[{i}].content")
        elif content is not None and not isinstance(content, str):
            raise ApiError(
                400,
                f"messages[{i}].content must be a string or an array of parts",
                param=f"messages[{i}].content",
                code="invalid_type",
            )
        elif content is None and role in ("user", "system", "developer"):
            raise ApiError(
                400,
                f"messages[{i}].content is required for role '{role}'",
                param=f"messages[{i}].content",
                code="missing_required_parameter",
            )


def _check_parts(parts: list[Any], where: str) -> None:
    for j, part in enumerate(parts):
        param = f"{where}[{j}]"
        if not isinstance(part, dict) or part.get("type") not in _PARTS:
            raise ApiError(
                400,
                f"{param} must be an object with 'type' one of {', '.join(_PARTS)}",
                param=f"{param}.type",
                code="invalid_type",
            )
        kind = part["type"]
        field, expected = _PARTS[kind]
        if not isinstance(part.get(field), expected):
            what = "a string" if expected is str else "an object"
            raise ApiError(
                400,
                f"{param}.{field} must be {what} for a '{kind}' part",
                param=f"{param}.{field}",
                code="invalid_type",
            )


def check_completion(data: dict[str, Any]) -> None:
    """Check a legacy completion request."""
    _common(data)
    prompt = data.get("prompt")
    if prompt is None:
        raise ApiError(
            400, "'prompt' is required", param="prompt", code="missing_required_parameter"
        )
    if not isinstance(prompt, str) and not (
        isinstance(prompt, list) and all(isinstance(p, str) for p in prompt)
    ):
        raise ApiError(
            400,
            "'prompt' must be a string or an array of strings",
            param="prompt",
            code="invalid_type",
        )


def last_user_text(messages: list[dict[str, Any]]) -> str:
    """Return the text of the last user message (parts joined)."""
    for msg in reversed(messages):
        if msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(
                    str(p.get("text", ""))
                    for p in content
                    if isinstance(p, dict) and p.get("type") == "text"
                )
    return ""
