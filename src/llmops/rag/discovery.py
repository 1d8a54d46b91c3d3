"""Finding the files a source selects and checking each one: size, binary, encoding, hash.

``discover`` walks a source folder once per run and returns every file its ``include`` globs
select (and ``exclude`` globs do not), checked and hashed block by block. Text that is not UTF-8
is decoded with the encoding ``detect_encoding`` finds; what cannot be read is marked with the
reason it is skipped, so the run summary can name it.
"""

from __future__ import annotations

import codecs
import fnmatch
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops.rag.spec import SourceSpec

__all__ = ["FileEntry", "detect_encoding", "discover", "unmatched_globs"]

_BLOCK = 1 << 16  # read size
_SNIFF = 8192


@dataclass
class FileEntry:
    """A discovered file and what the checks found."""

    path: Path
    rel: str
    size: int = 0
    sha256: str = ""
    problem: str | None = None  # "unreadable" | "binary" | "non_utf8" | "too_large" | "empty"
    encoding: str = "utf-8"  # what the text loaders decode with (detected when not UTF-8)
    extra: dict[str, Any] = field(default_factory=dict)


def _matches(rel: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        if fnmatch.fnmatchcase(rel, pattern):
            return True
        # '**/*.md' should also match top-level 'a.md'
        if pattern.startswith("**/") and fnmatch.fnmatchcase(rel, pattern[3:]):
            return True
    return False


def discover(root: Path, source: SourceSpec) -> list[FileEntry]:
    """List files under ``root`` matching the source globs, sorted, each checked and hashed."""
    from llmops.rag.documents import loadable_suffixes

    loadable = loadable_suffixes()
    entries: list[FileEntry] = []
    if not root.is_dir():
        return entries
    for path in sorted(root.rglob("*")):
        if not path.is_file():  # symlinks to files are followed
            continue
        rel = path.relative_to(root).as_posix()
        if not _matches(rel, source.include) or _matches(rel, source.exclude):
            continue
        if path.suffix.lower() not in loadable:
            continue
        entries.append(_check(path, rel, source.max_file_mb))
    return entries


# Binary formats: the file must start with this signature; its loader extracts the text.
_SIGNATURES = {".pdf": b"%PDF-"}


def _check(path: Path, rel: str, max_mb: float) -> FileEntry:
    """Hash the file while checking it is readable text, reading in blocks.

    UTF-8 is checked on the way; a file that is not UTF-8 is decoded again with the encoding
    ``detect_encoding`` finds in its first block, and skipped (``non_utf8``) when none fits.
    """
    entry = FileEntry(path=path, rel=rel)
    signature = _SIGNATURES.get(path.suffix.lower())
    try:
        entry.size = path.stat().st_size
        if entry.size > max_mb * 1024 * 1024:
            entry.problem = "too_large"
            return entry
        digest = hashlib.sha256()
        decoder: Any = codecs.getincrementaldecoder("utf-8")() if signature is None else None
        nonblank = signature is not None  # whether a PDF holds text shows when pages are read
        sample = b""
        with path.open("rb") as fh:
            while block := fh.read(_BLOCK):
                if not sample:
                    sample = block
                    if signature is not None and not block.startswith(signature):
                        entry.problem = "unreadable"  # a .pdf that is not a PDF
                        return entry
                    if signature is None and b"\x00" in block[:_SNIFF]:
                        entry.problem = "binary"
                        return entry
                digest.update(block)
                if decoder is not None:
                    try:
                        nonblank = bool(decoder.decode(block).strip()) or nonblank
                    except UnicodeDecodeError:
                        decoder = None  # not UTF-8: keep hashing, decide below
                        entry.encoding = ""
            if decoder is not None:
                decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        entry.encoding = ""
    except OSError:
        entry.problem = "unreadable"
        return entry
    entry.sha256 = digest.hexdigest()
    if not entry.encoding:
        found = detect_encoding(sample)
        text = _decodes(path, found) if found is not None else None
        if found is None or text is None:
            entry.problem = "non_utf8"
            return entry
        entry.encoding, nonblank = found, text
    if not nonblank:
        entry.problem = "empty"
    return entry


def _decodes(path: Path, encoding: str) -> bool | None:
    """Return whether the file holds non-blank text in ``encoding``; None if it does not decode."""
    decoder = codecs.getincrementaldecoder(encoding)()
    nonblank = False
    try:
        with path.open("rb") as fh:
            while block := fh.read(_BLOCK):
                nonblank = bool(decoder.decode(block).strip()) or nonblank
            decoder.decode(b"", final=True)
    except (UnicodeDecodeError, OSError):
        return None
    return nonblank


def detect_encoding(sample: bytes) -> str | None:
    """Return the encoding of text that is not UTF-8, or None when it does not look like text.

    charset-normalizer ranks candidate encodings by how "messy" the decoded text looks. On short
    Western text many single-byte code pages tie (it may pick cp1250 for French Latin-1, turning
    "très" into "trčs"), so Windows-1252 — a superset of Latin-1's printable characters and the
    most common legacy encoding — wins whenever its text is no messier than the best candidate.
    """
    from charset_normalizer import from_bytes
    from charset_normalizer.md import mess_ratio

    if not sample:
        return None
    best = from_bytes(sample).best()
    limit = best.chaos if best is not None else 0.2
    try:
        western = sample.decode("cp1252")
    except UnicodeDecodeError:
        western = None
    if western is not None and mess_ratio(western, 1.0) <= limit + 0.02:
        return "cp1252"
    return str(best.encoding) if best is not None else None


def unmatched_globs(root: Path, source: SourceSpec) -> list[str]:
    """Describe the ``include`` globs of ``source`` that select no loadable file under ``root``."""
    from llmops.rag.documents import loadable_suffixes

    loadable = loadable_suffixes()
    counts = {pattern: 0 for pattern in source.include}
    unloadable: dict[str, set[str]] = {pattern: set() for pattern in source.include}
    if root.is_dir():
        for path in root.rglob("*"):
            if not path.is_file():
                continue
            rel = path.relative_to(root).as_posix()
            if _matches(rel, source.exclude):
                continue
            for pattern in source.include:
                if _matches(rel, [pattern]):
                    if path.suffix.lower() in loadable:
                        counts[pattern] += 1
                    else:
                        unloadable[pattern].add(path.suffix.lower() or "(no suffix)")
    out = []
    for pattern, n in counts.items():
        if n:
            continue
        if unloadable[pattern]:
            suffixes = ", ".join(sorted(unloadable[pattern]))
            out.append(f"'{pattern}' matched only files no loader reads ({suffixes})")
        else:
            out.append(f"'{pattern}' matched nothing")
    return out
