"""Reading the files people edit, and writing state files safely.

- ``load_yaml_model(path, Model)`` parses YAML keeping line numbers and validates it into a pydantic
  model; every failure is one ``ConfigError`` naming the file, line and key, with a did-you-mean
  for unknown keys.
- ``atomic_write_*`` write to a temporary file in the same directory, fsync, then rename: readers
  see the old content or the new, never half of either.
- ``file_lock`` is an exclusive advisory lock (``flock``) held for a ``with`` block.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import fcntl
import hashlib
import json
import os
import tempfile
import time
import types
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from llmops.errors import ConfigError, StateError

__all__ = [
    "YamlDocument",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "did_you_mean",
    "file_lock",
    "load_yaml",
    "load_yaml_model",
    "sha256_bytes",
    "sha256_text",
    "validate_model",
]

M = TypeVar("M", bound=BaseModel)


def sha256_bytes(data: bytes) -> str:
    """Return the hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    """Return the hex SHA-256 of ``text`` encoded as UTF-8."""
    return sha256_bytes(text.encode("utf-8"))


def did_you_mean(word: str, choices: Sequence[str]) -> str | None:
    """Return the closest of ``choices`` to ``word``, or None when nothing is close."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


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


def _fields_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """Return the field names (aliases) of the nested model that contains ``loc[-1]``.

    Walks models, lists and dicts (``routes.<name>.prompt`` steps through ``dict[str, Route]``).
    """
    current: Any = model
    for part in loc[:-1]:
        if _is_model(current):
            fields = current.model_fields
            names = {info.alias or name: name for name, info in fields.items()}
            if not isinstance(part, str) or part not in names:
                return []
            current = _unwrap(fields[names[part]].annotation)
        else:
            current = _unwrap(_item_type(current))
        if current is None:
            return []
    if not _is_model(current):
        return []
    return [info.alias or name for name, info in current.model_fields.items()]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _unwrap(annotation: Any) -> Any:
    """Return the model or container inside ``X | None`` / ``Annotated[X, ...]``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = None if arg is type(None) else _unwrap(arg)
            if found is not None:
                return found
        return None
    return annotation


def _item_type(container: Any) -> Any:
    """Return the value type of ``list[X]`` / ``dict[K, X]``, else None."""
    args = typing.get_args(container)
    return args[-1] if args else None


def validate_model(
    model: type[M], doc: YamlDocument, *, context: dict[str, Any] | None = None
) -> M:
    """Validate ``doc.data`` into ``model``; the first error becomes a ConfigError with its line.

    Further errors (up to three) are summarised in the hint so nothing is hidden.
    """
    try:
        return model.model_validate(doc.data, context=context)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        loc = [p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        key = ".".join(str(p) for p in loc) or None
        line = doc.line_of(loc)
        if first["type"] == "extra_forbidden" and loc:
            name = str(loc[-1])
            guess = did_you_mean(name, _fields_at(model, loc))
            message = f"unknown key '{key}'" + (f" (did you mean '{guess}'?)" if guess else "")
            hint = f"allowed keys here: {', '.join(sorted(_fields_at(model, loc)))}"
        elif first["type"] == "missing":
            message = f"missing required key '{key}'"
            hint = None
        else:
            where = f"'{key}': " if key else ""
            message = f"{where}{_clean_msg(first['msg'])}"
            hint = None
        more = len(errors) - 1
        if more:
            others = "; ".join(
                ".".join(str(p) for p in e["loc"]) + ": " + _clean_msg(e["msg"])
                for e in errors[1:4]
            )
            hint = (hint + "; " if hint else "") + f"{more} more problem(s): {others}"
        raise ConfigError(message, file=doc.path, line=line, key=key, hint=hint) from None


def _clean_msg(msg: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg


def load_yaml_model(
    path: str | Path, model: type[M], *, context: dict[str, Any] | None = None
) -> M:
    """Load a YAML file into ``model`` with file:line:key errors."""
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError(
            f"expected a mapping at the top level, found {type(doc.data).__name__}",
            file=doc.path,
            line=1,
        )
    return validate_model(model, doc, context=context)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same dir, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, *, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON (sorted keys, trailing newline) to ``path`` atomically."""
    text = json.dumps(obj, indent=indent, sort_keys=True, ensure_ascii=False, default=str)
    atomic_write_text(path, text + "\n")


@contextlib.contextmanager
def file_lock(path: str | Path, *, timeout: float = 30.0, what: str = "state") -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing) for the block.

    ``path`` may be an existing directory: the directory itself is locked and nothing is
    written into it. Waits up to ``timeout`` seconds, then raises StateError naming the path.
    """
    path = Path(path)
    if path.is_dir():
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise StateError(
                        f"{what} is locked by another process",
                        file=path,
                        hint="wait for the other llmops command to finish, then retry",
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)
