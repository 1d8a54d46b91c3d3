"""Jinja2 for prompts: a sandboxed environment with StrictUndefined, and what a template uses."""

from __future__ import annotations

import functools
import json
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from llmops.errors import UsageError
from llmops.prompts.model import Variable, type_error

__all__ = [
    "coerce_cli_value",
    "environment",
    "is_plain_substitution",
    "render_source",
    "undeclared_names",
]


@functools.lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    """Return the one environment all prompts render in (defaults otherwise, like LangChain's)."""
    # Sandboxed: prompt files are data and must not reach Python internals.
    # StrictUndefined: a typo in a variable name fails loudly instead of rendering "".
    return SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


@functools.lru_cache(maxsize=256)
def _compile(source: str) -> jinja2.Template:
    return environment().from_string(source)


def undeclared_names(source: str) -> set[str]:
    """Return the variables ``source`` reads (raises jinja2.TemplateSyntaxError)."""
    return set(meta.find_undeclared_variables(environment().parse(source)))


def is_plain_substitution(source: str) -> bool:
    """Return True when ``source`` is only text and ``{{ name }}`` substitutions."""
    tree = environment().parse(source)
    for node in tree.body:
        if not isinstance(node, nodes.Output):
            return False
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                if "{" in child.data or "}" in child.data:
                    return False
            elif not isinstance(child, nodes.Name):
                return False
    return True


def render_source(source: str, values: dict[str, Any], *, where: str) -> str:
    """Render one template; undefined attributes and sandbox violations become UsageError."""
    try:
        return _compile(source).render(values)
    except jinja2.UndefinedError as exc:
        raise UsageError(
            f"cannot render {where}: {exc.message}",
            hint="check the shape of the variables you passed (see `llmops prompt show`)",
        ) from None
    except jinja2.exceptions.SecurityError as exc:
        raise UsageError(f"cannot render {where}: blocked by the sandbox: {exc}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise UsageError(f"cannot render {where}: {type(exc).__name__}: {exc}") from None


def coerce_cli_value(name: str, raw: str, variable: Variable) -> Any:
    """Turn a ``--var name=raw`` string into the declared type, or raise UsageError naming it."""
    kind = variable.type
    if kind == "string":
        return raw
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
        if kind == "boolean":
            lowered = raw.strip().lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
            raise ValueError(raw)
        value = json.loads(raw)
    except ValueError:
        raise UsageError(
            f"variable '{name}' must be {kind}: cannot read {raw!r}",
            hint="arrays and objects take JSON, e.g. --var tags='[\"a\"]'; or use --vars-file",
        ) from None
    problem = type_error(value, kind)
    if problem:
        raise UsageError(f"variable '{name}': {problem}")
    return value
