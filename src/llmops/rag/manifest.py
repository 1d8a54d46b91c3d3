"""Index manifests: what one index version contains, how it was built, and the switch history.

A manifest is written atomically to ``<state>/rag/<pipeline>/manifests/<version>.json`` before
the alias is switched to that version; ``history.jsonl`` records every switch (build or
rollback) so ``status`` can tell how long a version has been served.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from llmops.atomic import atomic_write_json
from llmops.errors import NotFoundError
from llmops.hashing import sha256_text

if TYPE_CHECKING:
    from llmops.lineage import IndexLineage

__all__ = [
    "DocumentEntry",
    "FileRecord",
    "Manifest",
    "ManifestStore",
    "index_version",
    "not_served",
]


def index_version(pipeline_hash: str, model: str, dim: int, chunk_ids: list[str]) -> str:
    """Derive the version from the pipeline hash, the model and the set of chunk ids."""
    body = "\n".join([pipeline_hash, model, str(dim), *sorted(chunk_ids)])
    return sha256_text(body)[:12]


class DocumentEntry(BaseModel):
    """One document: its file, title and chunks as ``[id, content_hash]`` pairs in order."""

    model_config = ConfigDict(extra="forbid")

    file: str
    title: str
    chunks: list[tuple[str, str]]


class FileRecord(BaseModel):
    """One discovered file: its hash and size, or why it was skipped."""

    model_config = ConfigDict(extra="forbid")

    sha256: str = ""
    size: int = 0
    skipped: str | None = None
    duplicate_of: str | None = None
    encoding: str | None = None  # set when the text was not UTF-8 and was decoded as this


class Manifest(BaseModel):
    """Everything about one built index version."""

    model_config = ConfigDict(extra="forbid")

    pipeline: str
    index_version: str
    pipeline_hash: str
    embedding_model: str
    dim: int
    collection: str
    alias: str
    sparse: bool
    created_at: str
    counts: dict[str, Any]
    timings: dict[str, float]
    libraries: dict[str, str]
    files: dict[str, FileRecord]
    documents: dict[str, DocumentEntry]

    @property
    def chunk_count(self) -> int:
        """Return the number of chunks (= points) in this version."""
        return sum(len(d.chunks) for d in self.documents.values())

    def chunk_ids(self) -> list[str]:
        """Return every chunk id."""
        return [cid for d in self.documents.values() for cid, _ in d.chunks]

    def lineage(self) -> IndexLineage:
        """Return the lineage record of this version (the fields the two share)."""
        from llmops.lineage import IndexLineage

        return IndexLineage.model_validate(self.model_dump(include=set(IndexLineage.model_fields)))


def not_served(pipeline: str) -> NotFoundError:
    """Return the error for a pipeline that serves no index yet (the hint builds one)."""
    return NotFoundError(
        f"pipeline '{pipeline}' has no served index", hint=f"build it: llmops index run {pipeline}"
    )


def library_versions() -> dict[str, str]:
    """Return the versions of the libraries that shape an index."""
    out: dict[str, str] = {}
    for dist in (
        "llmops",
        "qdrant-client",
        "sentence-transformers",
        "torch",
        "transformers",
        "tokenizers",
        "langchain-text-splitters",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def now_iso() -> str:
    """Return the current UTC time as ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


class ManifestStore:
    """Manifests and switch history of one pipeline under the state root."""

    def __init__(self, state_path: Path, pipeline: str) -> None:
        self.root = state_path / "rag" / pipeline
        self.dir = self.root / "manifests"

    def path(self, version: str) -> Path:
        """Return the manifest path of ``version``."""
        return self.dir / f"{version}.json"

    def write(self, manifest: Manifest) -> None:
        """Write a manifest atomically."""
        atomic_write_json(self.path(manifest.index_version), manifest.model_dump(mode="json"))

    def read(self, version: str) -> Manifest | None:
        """Return the manifest of ``version``, or None if missing or unreadable."""
        path = self.path(version)
        try:
            return Manifest.model_validate_json(path.read_bytes())
        except (OSError, ValueError):
            return None

    def versions(self) -> list[Manifest]:
        """Return all readable manifests, oldest first."""
        out = []
        if self.dir.is_dir():
            for path in self.dir.glob("*.json"):
                manifest = self.read(path.stem)
                if manifest is not None:
                    out.append(manifest)
        return sorted(out, key=lambda m: m.created_at)

    def delete(self, version: str) -> None:
        """Remove the manifest of ``version``."""
        self.path(version).unlink(missing_ok=True)

    def record_switch(self, version: str, reason: str) -> None:
        """Append a switch event to the history."""
        self.root.mkdir(parents=True, exist_ok=True)
        line = json.dumps(
            {"at": now_iso(), "ts": time.time(), "version": version, "reason": reason}
        )
        with (self.root / "history.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def history(self) -> list[dict[str, Any]]:
        """Return the switch events, oldest first (a torn last line is ignored)."""
        path = self.root / "history.jsonl"
        out: list[dict[str, Any]] = []
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def served_since(self, version: str) -> float | None:
        """Return the time ``version`` was last switched in, if recorded."""
        for event in reversed(self.history()):
            if event.get("version") == version:
                return float(event.get("ts", 0.0))
        return None
