"""Secrets never reach a report: API keys, credentials in URLs and environment values are masked.

Every payload the dashboard renders (static file, served JSON, Markdown) passes through
``Redactor.clean`` last, so a secret that slipped into a reason, an answer or a lineage field is
masked wherever it sits.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MASK", "Redactor"]

MASK = "[redacted]"

# Environment variables whose values are secrets by name.
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE", re.I)
# Credentials inside URLs: scheme://user:password@host, and secret-looking query parameters.
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<info>[^/@\s\"'<>\\]+)@", re.I)
_QUERY_SECRET = re.compile(
    r"(?P<name>[?&](?:api[_-]?key|key|token|access[_-]?token|secret|password|sig|signature)=)"
    r"(?P<value>[^&#\s\"'<>\\]+)",
    re.I,
)
# Key-shaped strings: OpenAI/Anthropic-style sk-..., GitHub tokens, AWS access keys, bearer tokens.
_KEY_SHAPES = re.compile(
    r"\b(?:sk-[A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16}|xox[abpr]-[A-Za-z0-9-]{10,})"
    r"|(?<=Bearer )[A-Za-z0-9._~+/-]{8,}=*",
)
# "api_key": "...", "authorization": "...", "db_password": "..." (a non-empty string value).
_SECRET_FIELD = re.compile(
    r'(?P<key>"(?:api_?key|authorization|password|secret|token|[A-Za-z0-9_]*_(?:api_key|token|secret|password))"\s*:\s*)"(?:[^"\\]|\\.)+"',
    re.I,
)
_KEY_MARKERS = ("sk-", "gh", "AKIA", "xox", "Bearer ")
_MIN_ENV_VALUE = 8


def _secret_like(value: str) -> bool:
    """Return True for values that can be a credential (not 'true', 'enabled' or a plain word)."""
    value = value.strip()
    if len(value) < _MIN_ENV_VALUE:
        return False
    return len(value) >= 20 or any(not c.isalpha() for c in value)


class Redactor:
    """Mask secrets in strings and nested JSON-like values."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        values = {
            value
            for name, value in env.items()
            if _SECRET_NAME.search(name) and _secret_like(value)
        }
        # Longest first, so a value containing another is masked whole.
        self._values = sorted(values, key=len, reverse=True)
        self._env_pattern = (
            re.compile("|".join(re.escape(v) for v in self._values)) if self._values else None
        )

    def text(self, value: str) -> str:
        """Return ``value`` with every secret masked."""
        # Cheap substring checks first: most strings (questions, answers) hold no secret, and
        # a report has tens of thousands of them.
        if self._env_pattern is not None and any(v in value for v in self._values):
            value = self._env_pattern.sub(MASK, value)
        if "@" in value and "://" in value:
            value = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", value)
        if "=" in value:
            value = _QUERY_SECRET.sub(lambda m: f"{m.group('name')}{MASK}", value)
        if any(marker in value for marker in _KEY_MARKERS):
            value = _KEY_SHAPES.sub(MASK, value)
        return value

    def json_text(self, text: str) -> str:
        """Return a JSON document's text with every secret masked (still valid JSON)."""
        text = _SECRET_FIELD.sub(lambda m: f'{m.group("key")}"{MASK}"', text)
        return self.text(text)

    def clean(self, value: Any) -> Any:
        """Return a JSON-like value (dicts, lists, strings) with secrets masked."""
        # One regex pass over the serialised document instead of a walk over every node: a
        # report holds ~10^5 strings. The patterns never cross a JSON string boundary.
        text = json.dumps(value, ensure_ascii=False, allow_nan=True)
        cleaned = self.json_text(text)
        if cleaned == text:
            return value
        try:
            return json.loads(cleaned)
        except ValueError:  # pragma: no cover - the patterns exclude quotes and backslashes
            return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value) if value else value
        if isinstance(value, dict):
            return {
                k: (MASK if _is_secret_field(k, v) else self._walk(v)) for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self._walk(v) for v in value]
        return value


def _is_secret_field(name: object, value: object) -> bool:
    """Return True for fields that hold a credential by name (``api_key``, ``authorization``)."""
    if not isinstance(name, str) or not isinstance(value, str) or not value:
        return False
    lowered = name.lower()
    return lowered in ("api_key", "apikey", "authorization", "password", "secret", "token") or (
        lowered.endswith(("_api_key", "_token", "_secret", "_password"))
    )
