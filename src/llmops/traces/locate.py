"""Where traces are: the URL the project's gateway writes to.

Readers (``llmops monitor``, ``llmops model drift``) must look where the gateway writes:
``traces.url`` in ``serving/gateway.yaml`` when set, else ``traces.url`` in llmops.yaml, else
SQLite under the state root. Only that one key is read here, so readers need not import the
gateway (the gateway validates its whole file when it starts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmops.config import Settings

__all__ = ["project_trace_url", "redact_url"]


def project_trace_url(settings: Settings) -> str:
    """Return where the project's gateway writes traces."""
    from llmops.yamlfile import load_yaml

    path = settings.path("serving") / "gateway.yaml"
    if path.is_file():
        data = load_yaml(path).data
        traces = data.get("traces") if isinstance(data, dict) else None
        url = traces.get("url") if isinstance(traces, dict) else None
        if isinstance(url, str) and url:
            return url
    return settings.trace_url


def redact_url(url: str) -> str:
    """Return ``url`` without its password (for messages and reports)."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url
