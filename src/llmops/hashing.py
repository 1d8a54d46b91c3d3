"""Content hashes: the hex SHA-256 every lock file, manifest and cache key uses."""

from __future__ import annotations

import hashlib

__all__ = ["sha256_bytes", "sha256_text"]


def sha256_bytes(data: bytes) -> str:
    """Return the hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    """Return the hex SHA-256 of ``text`` encoded as UTF-8."""
    return sha256_bytes(text.encode("utf-8"))
