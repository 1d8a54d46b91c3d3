"""Every error llmops raises on purpose.

The tree::

    LLMOpsError                      base; carries file/line/key and a fix-it hint
    ├── ConfigError                  a file a person edits is invalid (exit 2)
    ├── UsageError                   a command was called wrongly (exit 2)
    │   └── NotFoundError            a named thing (prompt, version, pipeline, route) does not exist
    ├── StateError                   the state under .llmops/ is unusable or locked (exit 2)
    ├── CheckFailedError             a check ran and found problems: lint, gate, validation (exit 1)
    ├── UpstreamError                a model endpoint failed (provider, status, request id)
    │   └── UpstreamConnectError     ... could not be reached at all (refused, reset, DNS)
    └── GuardrailBlockedError        a guard refused an input or output

Only the CLI turns these into exit codes and one-line messages. This module imports nothing from
the package so that every layer may raise these.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CheckFailedError",
    "ConfigError",
    "GuardrailBlockedError",
    "LLMOpsError",
    "NotFoundError",
    "StateError",
    "UpstreamConnectError",
    "UpstreamError",
    "UsageError",
]


class LLMOpsError(Exception):
    """Base class: a message, where it happened, and how to fix it."""

    exit_code: int = 1

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        file: str | Path | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.file = str(file) if file is not None else None
        self.line = line
        self.key = key

    @property
    def location(self) -> str | None:
        """Return ``file:line`` (or just the file) when known."""
        if self.file is None:
            return None
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def __str__(self) -> str:
        loc = self.location
        return f"{self.message} ({loc})" if loc else self.message


class ConfigError(LLMOpsError):
    """A file a person edits (llmops.yaml, a prompt, a pipeline, a suite) is invalid."""

    exit_code = 2


class UsageError(LLMOpsError):
    """A command or API was called with arguments that cannot work."""

    exit_code = 2


class NotFoundError(UsageError):
    """A named thing does not exist (prompt, version, label, pipeline, route, suite)."""


class StateError(LLMOpsError):
    """State under the state root is unusable: locked by another process, corrupt, or missing."""

    exit_code = 2


class CheckFailedError(LLMOpsError):
    """A check ran and failed: lint, an eval gate, data validation. ``problems`` lists them all."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        problems: list[str] | None = None,
        hint: str | None = None,
        file: str | Path | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, file=file, line=line, key=key)
        self.problems = list(problems or [])


class UpstreamError(LLMOpsError):
    """A model endpoint failed. Carries what a retry policy and an operator need."""

    exit_code = 1

    #: True when no answer came back at all (refused, reset, DNS): see ``UpstreamConnectError``.
    connect_error: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.provider = provider
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after

    def is_retryable(self) -> bool:
        """Return True for connection errors, 408, 429 and 5xx."""
        if self.connect_error:
            return True
        return self.status is not None and (self.status in (408, 429) or self.status >= 500)


class UpstreamConnectError(UpstreamError):
    """A model endpoint could not be reached at all (always retryable)."""

    connect_error = True


class GuardrailBlockedError(LLMOpsError):
    """A guard refused an input or an output; ``code`` is stable, e.g. ``prompt_injection``."""

    exit_code = 1

    def __init__(self, message: str, *, code: str, score: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.score = score
