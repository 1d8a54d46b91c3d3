"""Revoked API keys: refused at once by every path that authenticates, until restored.

A revocation names the SHA-256 of one key (what the keys file stores), so issuing a new key
under the same id is not blocked. With ``shared_state.backend: memory`` the set lives in this
process and in ``<state>/gateway/revoked-keys.json`` (it survives a restart); with ``redis``
every replica mirrors the set kept in Redis (``shared_redis.py``), and the rate-limit check of
each ``/v1/`` request asks Redis itself, so a revocation holds on every replica at once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path

from llmops.atomic import atomic_write_json
from llmops.errors import StateError

__all__ = ["Revocations", "revocations_path"]


def revocations_path(state_path: Path) -> Path:
    """Return where a single-replica gateway keeps its revoked key digests."""
    return state_path / "gateway" / "revoked-keys.json"


class Revocations:
    """A set of revoked key digests; reads take no lock (the set is replaced, never mutated)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._digests: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        if path is not None and path.is_file():
            self._digests = frozenset(self._read(path))

    @staticmethod
    def _read(path: Path) -> list[str]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StateError(
                f"cannot read the revoked keys file {path}: {exc}",
                hint="restore it from a backup or fix its JSON (a list of hex SHA-256 strings)",
            ) from None
        if not isinstance(data, list) or not all(isinstance(d, str) for d in data):
            raise StateError(
                f"the revoked keys file {path} is not a JSON list of strings",
                hint="restore it from a backup or fix it by hand",
            )
        return data

    def __contains__(self, digest: object) -> bool:
        return digest in self._digests

    def __len__(self) -> int:
        return len(self._digests)

    def snapshot(self) -> frozenset[str]:
        """Return the revoked digests now."""
        return self._digests

    def add(self, digest: str) -> None:
        """Revoke one key digest."""
        self._change(self._digests | {digest})

    def discard(self, digest: str) -> None:
        """Restore one key digest."""
        self._change(self._digests - {digest})

    def replace(self, digests: Iterable[str]) -> None:
        """Take the whole set from the shared store (not written to the file)."""
        with self._lock:
            self._digests = frozenset(digests)

    def _change(self, new: frozenset[str]) -> None:
        with self._lock:
            if new == self._digests:
                return
            if self.path is not None:
                atomic_write_json(self.path, sorted(new))
            self._digests = new
