"""One addressable prompt version (released or the draft) and what rendering it returns."""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from pydantic import BaseModel, ConfigDict

from llmops.errors import ConfigError, StateError, UsageError
from llmops.files import YamlDocument, did_you_mean, load_yaml, validate_model
from llmops.lineage import PromptLineage
from llmops.prompts.model import PromptFile, Variable, content_hash, type_error
from llmops.prompts.template import render_source, undeclared_names

if TYPE_CHECKING:
    from langchain_core.prompts import ChatPromptTemplate as LCChatPromptTemplate
    from llama_index.core.prompts import ChatPromptTemplate as LIChatPromptTemplate

__all__ = [
    "PromptSource",
    "PromptVersion",
    "RenderedPrompt",
    "TemplateProblem",
    "create_exclusive",
    "read_prompt",
    "released_text",
]


class RenderedPrompt(BaseModel):
    """Rendered OpenAI-format messages, the model parameters, and where they came from."""

    model_config = ConfigDict(frozen=True)

    messages: list[dict[str, str]]
    params: dict[str, Any]
    lineage: PromptLineage
    variables: dict[str, Any]

    @property
    def text(self) -> str:
        """Return the message contents joined by blank lines (the whole text of a template)."""
        return "\n\n".join(m["content"] for m in self.messages)


@dataclass(frozen=True)
class PromptSource:
    """A parsed prompt file: its text, line map and validated model."""

    path: Path
    text: str
    doc: YamlDocument
    prompt: PromptFile

    def template_line(self, key: str, template_lineno: int | None) -> int | None:
        """Return the file line of line ``template_lineno`` inside template ``key``."""
        loc: list[str | int] = [int(p) if p.isdigit() else p for p in key.split(".")]
        line = self.doc.line_of(loc)
        if line is None or not template_lineno:
            return line
        raw = self.text.splitlines()[line - 1] if line - 1 < len(self.text.splitlines()) else ""
        value = raw.split(":", 1)[1].strip() if ":" in raw else ""
        block = value[:1] in ("|", ">")  # a block scalar starts on the next line
        return line + template_lineno - (0 if block else 1)


@dataclass(frozen=True)
class TemplateProblem:
    """A problem found in the templates of one file."""

    rule: str
    key: str
    line: int | None
    message: str


def read_prompt(path: Path) -> PromptSource:
    """Parse and validate one prompt file; raise ConfigError naming file, line and key."""
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError(
            f"expected a mapping at the top level, found {type(doc.data).__name__}",
            file=path,
            line=1,
        )
    prompt = validate_model(PromptFile, doc)
    return PromptSource(path=path, text=path.read_text(encoding="utf-8"), doc=doc, prompt=prompt)


def _first_line_using(text: str, name: str) -> int | None:
    pattern = re.compile(rf"(?<![\w.]){re.escape(name)}\b")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.search(line):
            return number
    return None


def check_templates(source: PromptSource) -> list[TemplateProblem]:
    """Return Jinja syntax errors, undeclared variables and unused declared variables."""
    problems: list[TemplateProblem] = []
    prompt = source.prompt
    used: set[str] = set()
    for key, text in prompt.templates():
        try:
            names = undeclared_names(text)
        except jinja2.TemplateSyntaxError as exc:
            problems.append(
                TemplateProblem(
                    "jinja-syntax",
                    key,
                    source.template_line(key, exc.lineno),
                    f"invalid Jinja syntax in '{key}': {exc.message}",
                )
            )
            continue
        used |= names
        for name in sorted(names - set(prompt.variables)):
            guess = did_you_mean(name, list(prompt.variables))
            problems.append(
                TemplateProblem(
                    "undeclared-variable",
                    key,
                    source.template_line(key, _first_line_using(text, name)),
                    f"'{key}' uses undeclared variable '{name}'"
                    + (
                        f" (did you mean '{guess}'?)" if guess else "; declare it under 'variables'"
                    ),
                )
            )
    if not any(p.rule == "jinja-syntax" for p in problems):
        for name in sorted(set(prompt.variables) - used):
            problems.append(
                TemplateProblem(
                    "unused-variable",
                    f"variables.{name}",
                    source.doc.line_of(["variables", name]),
                    f"variable '{name}' is declared but no template uses it",
                )
            )
    return problems


class PromptVersion:
    """A prompt at one version (``version`` None = the working draft), ready to render."""

    def __init__(self, source: PromptSource, *, version: int | None, content_hash: str) -> None:
        self.source = source
        self.file: PromptFile = source.prompt
        self.name = source.prompt.name
        self.version = version
        self.content_hash = content_hash

    @classmethod
    def from_source(cls, source: PromptSource, version: int | None) -> PromptVersion:
        """Build from a parsed file, refusing templates with syntax or undeclared variables."""
        for problem in check_templates(source):
            if problem.rule != "unused-variable":
                raise ConfigError(problem.message, file=source.path, line=problem.line)
        return cls(source, version=version, content_hash=content_hash(source.prompt))

    @property
    def ref(self) -> str:
        """Return ``name@N`` or ``name@draft``."""
        return f"{self.name}@{self.version if self.version is not None else 'draft'}"

    @property
    def lineage(self) -> PromptLineage:
        """Return the lineage record of this version."""
        version = str(self.version) if self.version is not None else "draft"
        return PromptLineage(name=self.name, version=version, content_hash=self.content_hash)

    @property
    def variables(self) -> dict[str, Variable]:
        """Return the declared variables."""
        return self.file.variables

    @property
    def params(self) -> dict[str, Any]:
        """Return the model parameters that are set."""
        return self.file.params.model_dump(mode="json", exclude_none=True)

    def bind(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``values`` against the declared variables and fill in defaults."""
        declared = self.file.variables
        for key in values:
            if key not in declared:
                guess = did_you_mean(key, list(declared))
                raise UsageError(
                    f"{self.ref} has no variable '{key}'"
                    + (f" (did you mean '{guess}'?)" if guess else ""),
                    hint="declared: " + (", ".join(sorted(declared)) or "none"),
                )
        bound: dict[str, Any] = {}
        for key, var in declared.items():
            if key in values:
                value = values[key]
                problem = type_error(value, var.type)
                if problem and not (value is None and not var.is_required):
                    raise UsageError(f"variable '{key}' of {self.ref}: {problem}")
                bound[key] = value
            elif var.is_required:
                raise UsageError(
                    f"missing required variable '{key}' for {self.ref}",
                    hint=f"pass it: --var {key}=... ({var.type})"
                    + (f"; {var.description}" if var.description else ""),
                )
            else:
                bound[key] = copy.deepcopy(var.default)
        return bound

    def render(self, **variables: Any) -> RenderedPrompt:
        """Render the messages; a missing, unknown or wrongly typed variable is a UsageError."""
        values = self.bind(variables)
        messages: list[dict[str, str]] = []
        if self.file.template is not None:
            text = render_source(self.file.template, values, where=self.ref)
            messages.append({"role": "user", "content": text})
        for message in self.file.messages or []:
            text = render_source(message.content, values, where=self.ref)
            messages.append({"role": message.role, "content": text})
        return RenderedPrompt(
            messages=messages, params=self.params, lineage=self.lineage, variables=values
        )

    def message_templates(self) -> list[tuple[str, str]]:
        """Return ``(role, jinja source)`` per message (a single template is one user message)."""
        if self.file.template is not None:
            return [("user", self.file.template)]
        return [(m.role, m.content) for m in self.file.messages or []]

    def to_langchain(self) -> LCChatPromptTemplate:
        """Return a LangChain ``ChatPromptTemplate`` (jinja2 format, defaults as partials)."""
        from llmops.prompts.adapters import to_langchain

        return to_langchain(self)

    def to_llama_index(self) -> LIChatPromptTemplate:
        """Return a LlamaIndex ``ChatPromptTemplate`` that renders exactly like ``render``."""
        from llmops.prompts.adapters import to_llama_index

        return to_llama_index(self)

    def __repr__(self) -> str:
        return f"PromptVersion({self.ref!r}, {self.content_hash[:19]})"


def released_text(source: PromptSource, version: int) -> str:
    """Return the draft text with ``version: N`` added after the ``name`` line."""
    lines = source.text.splitlines(keepends=True)
    at = source.doc.line_of(["name"]) or 0
    if lines and at >= len(lines) and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    text = "".join(lines[:at] + [f"version: {version}\n"] + lines[at:])
    try:
        frozen = validate_model(PromptFile, load_yaml(source.path, text=text))
    except ConfigError:
        frozen = None
    if frozen is None or frozen.version != version or frozen.semantic() != source.prompt.semantic():
        raise ConfigError(
            "cannot add 'version' to this file: write the top level in block style",
            file=source.path,
        )
    return text


def create_exclusive(path: Path, text: str) -> None:
    """Create ``path`` with ``text`` atomically, failing if it exists (a racing release)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(text.encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # link() never replaces an existing file
    except FileExistsError:
        raise StateError(
            f"'{path.name}' already exists in {path.parent.name}/: another release got there first",
            file=path,
            hint="run `llmops prompt lint`, then release again",
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
