"""YAML files people edit, parsed with the line of every key (for file:line:key errors).

``load_yaml(path)`` refuses duplicate keys, binary files and bad UTF-8 with one ``ConfigError``
naming the file and line; the ``YamlDocument`` it returns maps every key path to its line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from llmops.errors import ConfigError

__all__ = ["YamlDocument", "load_yaml"]


class YamlDocument:
    """Parsed YAML plus the line of every key and item, for error messages."""

    def __init__(self, data: Any, lines: dict[tuple[str | int, ...], int], path: Path) -> None:
        self.data = data
        self.lines = lines
        self.path = path

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """Return the 1-based line of the deepest known prefix of ``loc``."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), None)


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {seen[key]})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _collect_lines(
    node: yaml.Node, prefix: tuple[str | int, ...], out: dict[tuple[str | int, ...], int]
) -> None:
    out.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            out[prefix + (key,)] = key_node.start_mark.line + 1
            _collect_lines(value_node, prefix + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _collect_lines(item, prefix + (i,), out)


def _read_text(path: Path) -> str:
    if path.is_dir():
        raise ConfigError(
            "expected a file but found a directory",
            file=path,
            hint="remove or rename the directory",
        )
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("file not found", file=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", file=path) from None
    if b"\x00" in raw[:8192]:
        raise ConfigError("binary file, expected UTF-8 text (YAML)", file=path)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"invalid UTF-8 at byte {exc.start}", file=path, line=line, hint="save as UTF-8"
        ) from None


def load_yaml(path: str | Path, *, text: str | None = None) -> YamlDocument:
    """Parse a YAML file, keeping the line of every key; raise ConfigError on bad YAML."""
    path = Path(path)
    if text is None:
        text = _read_text(path)
    if not text.strip():
        raise ConfigError("empty file", file=path, hint="see the JSON Schema for the format")
    try:
        node = yaml.compose(text, Loader=_LineLoader)
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = f", column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"invalid YAML: {problem}{col}", file=path, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=path) from None
    lines: dict[tuple[str | int, ...], int] = {}
    if node is not None:
        _collect_lines(node, (), lines)
    return YamlDocument(data, lines, path)
