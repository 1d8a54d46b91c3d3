"""A content-addressed cache of model calls under ``<state>/cache/models``.

The key is the SHA-256 of the canonical JSON of everything that determines the answer (endpoint,
model id, messages, parameters, judge rubric hash, repeat index). Each entry is one JSON file
written atomically (temp file + rename), so concurrent runs never see half an entry and the
worst a race costs is computing the same answer twice. Entries are only written for successful
calls, as each call finishes: an interrupted run keeps everything it already paid for.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from llmops.hashing import sha256_text

__all__ = ["ModelCache", "cache_key"]


def cache_key(material: dict[str, Any]) -> str:
    """Return the hex key of ``material`` (canonical JSON: sorted keys, no spaces)."""
    text = json.dumps(
        material, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return sha256_text(text)


class ModelCache:
    """Read and write cached model answers; ``enabled=False`` ignores it, ``refresh`` rewrites."""

    def __init__(self, root: Path, *, enabled: bool = True, refresh: bool = False) -> None:
        self.root = Path(root)
        self.enabled = enabled
        self.refresh = refresh

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """Return the cached value for ``key``, or None (also when disabled or refreshing)."""
        if not self.enabled or self.refresh:
            return None
        path = self._path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return data.get("value") if isinstance(data, dict) else None

    def has(self, key: str) -> bool:
        """Return True when ``key`` would be a hit."""
        return self.get(key) is not None

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key`` (no-op when disabled)."""
        if not self.enabled:
            return
        # Temp file + rename keeps readers from seeing half an entry. No fsync: an entry lost
        # to a power cut is recomputed, and fsync per call would stall the event loop.
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"key": key, "value": value}, ensure_ascii=False, default=str)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:8]}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
