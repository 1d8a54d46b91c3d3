"""The spool: new chunks of one build, on disk, so a build's memory does not grow with the corpus.

Planning appends each new chunk (id, content hash, text to embed, payload) as one JSON line to
an unnamed temporary file in the pipeline's state folder; filling reads them back in order.
The file disappears when the build ends, killed or not (it never had a name).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from llmops.rag.chunking import Chunk

__all__ = ["Spool", "SpooledChunk"]

#: A spooled chunk: ``{"id", "h" (content hash), "t" (text to embed), "p" (payload)}``.
SpooledChunk = dict[str, Any]


class Spool:
    """An append-then-read file of new chunks (use as a context manager)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = tempfile.TemporaryFile(
            "w+", encoding="utf-8", dir=folder, prefix="spool-"
        )
        self.count = 0

    def add(self, chunk: Chunk) -> None:
        """Append one chunk."""
        record = {
            "id": chunk.id,
            "h": chunk.content_hash,
            "t": chunk.embed_text,
            "p": chunk.payload,
        }
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count += 1

    def __iter__(self) -> Iterator[SpooledChunk]:
        """Read every chunk back, in the order added."""
        self._file.flush()
        self._file.seek(0)
        for line in self._file:
            yield json.loads(line)
        self._file.seek(0, 2)  # appends go to the end again

    def close(self) -> None:
        """Delete the file."""
        self._file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
