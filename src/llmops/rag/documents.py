"""Documents: reading checked files (see ``discovery``) into titled sections, one loader per suffix.

Loaders are registered per file suffix (``register_loader``) like any plugin. Text formats are
read line by line, so a huge file never sits in memory whole. Text that is not UTF-8 (Latin-1,
Windows-1252, Shift-JIS, ...) is decoded with the encoding ``detect_encoding`` finds; a file that
is unreadable, binary, empty or in no recognisable encoding is skipped, named in the run summary,
and the run goes on. PDFs are read page by page with pypdf: one section per page, headed by the
document outline (bookmarks) and the page number.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops.rag.discovery import FileEntry, detect_encoding, discover, unmatched_globs
from llmops.rag.spec import ParsingSpec, SourceSpec

__all__ = [
    "Document",
    "FileEntry",
    "Loader",
    "Section",
    "detect_encoding",
    "discover",
    "load_file",
    "loadable_suffixes",
    "register_loader",
    "unmatched_globs",
]

_BLOCK = 1 << 16  # the most text one section holds before it is flushed


@dataclass
class Section:
    """A run of text under one heading path."""

    heading_path: list[str]
    text: str


@dataclass
class Document:
    """One logical document: a file, or one record of a JSONL file."""

    source: str
    title: str
    metadata: dict[str, Any]
    sections: Callable[[], Iterator[Section]]


Loader = Callable[[FileEntry, SourceSpec, ParsingSpec], Iterator[Document]]
_LOADERS: dict[str, Loader] = {}


def register_loader(suffix: str, loader: Loader) -> None:
    """Register ``loader(entry, source, parsing) -> Iterator[Document]`` for a file suffix."""
    _LOADERS[suffix.lower()] = loader


def loadable_suffixes() -> frozenset[str]:
    """Return the file suffixes a loader is registered for."""
    return frozenset(_LOADERS)


def load_file(entry: FileEntry, source: SourceSpec, parsing: ParsingSpec) -> Iterator[Document]:
    """Yield the documents of a checked file with the loader registered for its suffix."""
    return _LOADERS[entry.path.suffix.lower()](entry, source, parsing)


def _lines(path: Path, encoding: str = "utf-8") -> Iterator[str]:
    with path.open("r", encoding=encoding, newline=None) as fh:
        yield from fh


# --- front matter --------------------------------------------------------------------------


def _front_matter(path: Path, encoding: str) -> tuple[dict[str, Any], int]:
    """Return (metadata, number of lines it spans) for a leading ``---`` YAML block."""
    import yaml

    head: list[str] = []
    for i, line in enumerate(_lines(path, encoding)):
        if i == 0 and line.rstrip() != "---":
            return {}, 0
        if i > 0 and line.rstrip() in ("---", "..."):
            try:
                data = yaml.safe_load("".join(head[1:]))
            except yaml.YAMLError:
                return {}, 0
            if not isinstance(data, dict):
                return {}, 0
            return {str(k): v for k, v in data.items()}, i + 1
        head.append(line)
        if i > 200:
            break
    return {}, 0


def _scalar_metadata(data: dict[str, Any]) -> dict[str, Any]:
    """Keep values Qdrant can filter on: scalars and lists of scalars."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, str | int | float | bool):
            out[key] = value
        elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            out[key] = list(value)
        elif value is not None:
            out[key] = str(value)
    return out


# --- markdown / rst / txt --------------------------------------------------------------------

_UNDERLINE = set("=-~*^#+\"'`")


def _is_underline(line: str, title: str) -> bool:
    s = line.rstrip()
    return (
        len(s) >= 3
        and len(set(s)) == 1
        and s[0] in _UNDERLINE
        and bool(title.strip())
        and len(s) >= len(title.rstrip()) * 0.5
    )


def _text_sections(path: Path, skip: int, headings: bool, encoding: str) -> Iterator[Section]:
    """Split a markdown/rst/plain file into sections at ATX or underlined headings."""
    levels: dict[str, int] = {}  # rst underline char -> level, in order of appearance
    stack: list[tuple[int, str]] = []
    buf: list[str] = []
    size = 0
    fence = False
    pending: str | None = None  # a line that may be a setext/rst title

    def path_now() -> list[str]:
        return [t for _, t in stack]

    def flush() -> Iterator[Section]:
        nonlocal buf, size
        text = "".join(buf)
        buf, size = [], 0
        if text.strip():
            yield Section(path_now(), text)

    def heading(level: int, title: str) -> Iterator[Section]:
        yield from flush()
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title.strip()))

    for i, line in enumerate(_lines(path, encoding)):
        if i < skip:
            continue
        stripped = line.strip()
        if headings and stripped.startswith("```"):
            fence = not fence
        if headings and not fence:
            if pending is not None:
                if _is_underline(line, pending):
                    char = line.strip()[0]
                    level = levels.setdefault(char, len(levels) + 1)
                    yield from heading(level, pending)
                    pending = None
                    continue
                buf.append(pending)
                size += len(pending)
                pending = None
            if line.startswith("#") and not line.startswith("#!"):  # indented = code
                hashes = len(stripped) - len(stripped.lstrip("#"))
                rest = stripped[hashes:]
                if 1 <= hashes <= 6 and (rest.startswith(" ") or not rest):
                    yield from heading(hashes, rest.strip().rstrip("#").strip())
                    continue
            if stripped and not line.startswith((" ", "\t")) and not _is_underline(line, "x"):
                pending = line
                continue
        buf.append(line)
        size += len(line)
        if size >= _BLOCK and not stripped:
            yield from flush()
        elif size >= 4 * _BLOCK:  # a very long paragraph: cut anyway, memory stays bounded
            yield from flush()
    if pending is not None:
        buf.append(pending)
    yield from flush()


def _first_heading(path: Path, skip: int, encoding: str) -> str | None:
    for section in _text_sections(path, skip, True, encoding):
        if section.heading_path:
            return section.heading_path[0]
        break
    return None


def _load_text(entry: FileEntry, source: SourceSpec, parsing: ParsingSpec) -> Iterator[Document]:
    meta: dict[str, Any] = {}
    skip = 0
    if parsing.front_matter and entry.path.suffix.lower() in (".md", ".markdown"):
        meta, skip = _front_matter(entry.path, entry.encoding)
    plain = entry.path.suffix.lower() == ".txt"
    headings = parsing.headings and not plain
    title = str(meta.pop("title", "") or "") or (
        (_first_heading(entry.path, skip, entry.encoding) if headings else None) or entry.path.stem
    )
    path, encoding = entry.path, entry.encoding
    yield Document(
        source=entry.rel,
        title=title,
        metadata=_scalar_metadata(meta),
        sections=lambda: _text_sections(path, skip, headings, encoding),
    )


# --- HTML ------------------------------------------------------------------------------------

_BLOCKS = {
    "p", "div", "li", "ul", "ol", "pre", "table", "tr", "td", "th", "dt", "dd", "dl",
    "blockquote", "section", "article", "br", "hr", "header", "footer", "main", "figure",
}  # fmt: skip
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_SKIP = {"script", "style", "noscript", "template", "head"}


def _html_tree(path: Path, encoding: str) -> Any:
    import lxml.html  # type: ignore[import-untyped]

    # The encoding is given: without it libxml2 reads a file without <meta charset> as Latin-1.
    return lxml.html.parse(str(path), lxml.html.HTMLParser(encoding=encoding))


def _html_sections(path: Path, headings: bool, encoding: str) -> Iterator[Section]:
    tree = _html_tree(path, encoding)
    root = tree.getroot()
    stack: list[tuple[int, str]] = []
    buf: list[str] = []
    out: list[Section] = []

    def flush() -> None:
        text = " ".join("".join(buf).split(" "))
        buf.clear()
        if text.strip():
            out.append(Section([t for _, t in stack], text.strip() + "\n"))

    def walk(el: Any) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in _SKIP:
            pass
        elif headings and tag in _HEADINGS:
            flush()
            level = _HEADINGS[tag]
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, " ".join(el.text_content().split())))
        else:
            if tag in _BLOCKS:
                buf.append("\n")
            if el.text and tag:
                buf.append(el.text)
            for child in el:
                walk(child)
            if tag in _BLOCKS:
                buf.append("\n")
        if el.tail:
            buf.append(el.tail)

    if root is not None:
        body = root.find("body")
        walk(body if body is not None else root)
    flush()
    yield from out


def _load_html(entry: FileEntry, source: SourceSpec, parsing: ParsingSpec) -> Iterator[Document]:
    root = _html_tree(entry.path, entry.encoding).getroot()
    title = ""
    if root is not None:
        node = root.find(".//title")
        if node is None:
            node = root.find(".//h1")
        if node is not None:
            title = " ".join(node.text_content().split())
    path, encoding = entry.path, entry.encoding
    headings = parsing.headings
    yield Document(
        source=entry.rel,
        title=title or entry.path.stem,
        metadata={},
        sections=lambda: _html_sections(path, headings, encoding),
    )


# --- JSONL -----------------------------------------------------------------------------------


def _load_jsonl(entry: FileEntry, source: SourceSpec, parsing: ParsingSpec) -> Iterator[Document]:
    for lineno, line in enumerate(_lines(entry.path, entry.encoding), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            entry.extra["bad_records"] = entry.extra.get("bad_records", 0) + 1
            continue
        if not isinstance(record, dict) or not isinstance(record.get(source.text_field), str):
            entry.extra["bad_records"] = entry.extra.get("bad_records", 0) + 1
            continue
        text = record.pop(source.text_field)
        rid = str(record.pop(source.id_field, lineno))
        title = str(record.pop("title", "") or rid)
        section = Section([], text)
        yield Document(
            source=f"{entry.rel}#{rid}",
            title=title,
            metadata=_scalar_metadata(record),
            sections=lambda s=section: iter([s]),  # type: ignore[misc]
        )


# --- PDF ---------------------------------------------------------------------------------------


def _pdf_reader(path: Path) -> Any:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ValueError(f"{path.name} is encrypted")
    except PyPdfError as exc:  # malformed: the run skips the file as unreadable
        raise ValueError(f"{path.name}: {exc}") from None
    return reader


def _pdf_outline(reader: Any) -> dict[int, list[str]]:
    """Map page index -> the outline (bookmark) path that starts on it."""
    starts: dict[int, list[str]] = {}

    def walk(items: list[Any], trail: list[str]) -> None:
        last: list[str] = trail
        for item in items:
            if isinstance(item, list):
                walk(item, last)
                continue
            try:
                page = reader.get_destination_page_number(item)
            except Exception:  # noqa: BLE001 - a broken bookmark only loses its heading
                continue
            last = [*trail, " ".join(str(item.title).split())]
            if page is not None and page >= 0:
                starts.setdefault(page, last)

    try:
        walk(reader.outline, [])
    except Exception:  # noqa: BLE001 - no usable outline: pages keep their numbers only
        return {}
    return starts


def _pdf_sections(path: Path, reader: Any, headings: bool) -> Iterator[Section]:
    from pypdf.errors import PyPdfError

    outline = _pdf_outline(reader) if headings else {}
    current: list[str] = []
    for number, page in enumerate(reader.pages):
        current = outline.get(number, current)
        try:
            text = page.extract_text() or ""
        except (PyPdfError, KeyError, TypeError) as exc:
            raise ValueError(f"{path.name} page {number + 1}: {exc}") from None
        if text.strip():
            yield Section([*current, f"page {number + 1}"], text.strip() + "\n")


def _load_pdf(entry: FileEntry, source: SourceSpec, parsing: ParsingSpec) -> Iterator[Document]:
    reader = _pdf_reader(entry.path)  # parsed once: the title, the page count and the pages
    info = reader.metadata
    title = " ".join(str(info.title or "").split()) if info is not None else ""
    if not title and parsing.headings:
        starts = _pdf_outline(reader)
        first = starts.get(0) or next(iter(starts.values()), [])
        title = first[0] if first else ""
    path = entry.path
    headings = parsing.headings
    yield Document(
        source=entry.rel,
        title=title or entry.path.stem,
        metadata={"pages": len(reader.pages)},
        sections=lambda: _pdf_sections(path, reader, headings),
    )


for _suffix in (".md", ".markdown", ".txt", ".rst"):
    register_loader(_suffix, _load_text)
for _suffix in (".html", ".htm"):
    register_loader(_suffix, _load_html)
register_loader(".jsonl", _load_jsonl)
register_loader(".pdf", _load_pdf)
