"""Validating the files people edit into pydantic models, with errors that name file, line, key.

``load_yaml_model(path, Model)`` parses YAML (``llmops.yamlfile``) and validates it; the first
pydantic error becomes one ``ConfigError`` with its line, a did-you-mean for unknown keys, and the
next few errors summarised in the hint.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

from llmops.errors import ConfigError
from llmops.suggest import did_you_mean
from llmops.yamlfile import YamlDocument, load_yaml

__all__ = ["Share", "exactly_one", "load_yaml_model", "needed_by", "validate_model"]

M = TypeVar("M", bound=BaseModel)

Share = Annotated[float, Field(ge=0, le=1)]
"""A field holding a share, rate or probability: a float in [0, 1]."""


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


def exactly_one(model: BaseModel, *names: str) -> None:
    """Raise ValueError unless exactly one of the fields ``names`` is set (not None).

    For a model validator; the message names the YAML keys (aliases): "give exactly one of 'a' or
    'b'".
    """
    if sum(getattr(model, name) is not None for name in names) != 1:
        fields = type(model).model_fields
        keys = [f"'{fields[name].alias or name}'" for name in names]
        raise ValueError(f"give exactly one of {', '.join(keys[:-1])} or {keys[-1]}")


def needed_by(model: M, kind: str, name: str, what: str) -> M:
    """Return ``model``; raise ValueError when its ``type`` is ``kind`` and field ``name`` is unset.

    For a model validator; the message names the YAML key: "an http target needs 'url'".
    """
    if getattr(model, "type", None) == kind and not getattr(model, name):
        key = type(model).model_fields[name].alias or name
        raise ValueError(f"{what} needs '{key}'")
    return model
