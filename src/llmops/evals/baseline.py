"""The committed baseline a run is gated against (``evals/baselines/<suite>.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmops.errors import ConfigError

__all__ = ["load_baseline"]


def load_baseline(path: Path) -> dict[str, Any] | None:
    """Return the committed baseline at ``path``, or None when there is none."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"baseline is not valid JSON: {exc.msg}", file=path, line=exc.lineno
        ) from None
    if not isinstance(data, dict) or "metrics" not in data:
        raise ConfigError(
            "baseline has no 'metrics'",
            file=path,
            hint="rewrite it with: llmops eval baseline SUITE",
        )
    return data
