"""``llmops prompt lint``: every rule of the prompt format, reported with file, line and version.

Rules (the ``rule`` code of each problem):

- ``invalid-yaml``, ``unknown-key``, ``invalid-file``, ``empty-file``, ``binary-file``,
  ``not-a-file``: the file does not load (line and column, did-you-mean for unknown keys)
- ``jinja-syntax``, ``undeclared-variable``, ``unused-variable``: the templates
- ``name-mismatch``, ``version-mismatch``, ``draft-has-version``: the file disagrees with its path
- ``duplicate-version``: two files claim the same name and version
- ``hash-mismatch``, ``not-in-lock``, ``missing-file``: a release no longer matches the lock
- ``label-missing-version``, ``invalid-lock``: the lock itself
- ``unexpected-file``: a file the registry would silently ignore
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from llmops.errors import ConfigError
from llmops.prompts.lock import LockFile
from llmops.prompts.model import content_hash
from llmops.prompts.version import PromptSource, check_templates, read_prompt
from llmops.yamlfile import load_yaml

if TYPE_CHECKING:
    from llmops.prompts.registry import PromptRegistry

__all__ = ["LintProblem", "lint_registry"]

_VERSION_FILE = re.compile(r"^([1-9][0-9]*)\.yaml$")


@dataclass(frozen=True)
class LintProblem:
    """One problem: where (file, line, key), which prompt version, what is wrong, which rule."""

    file: str
    line: int | None
    key: str | None
    name: str | None
    version: str | None
    message: str
    rule: str

    @property
    def ref(self) -> str | None:
        """Return ``name@version`` when known."""
        if self.name is None:
            return None
        return f"{self.name}@{self.version}" if self.version else self.name

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        who = f" {self.ref}:" if self.ref else ""
        return f"{where}:{who} {self.message} [{self.rule}]"

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return asdict(self)


def _rule_of(exc: ConfigError) -> str:
    msg = exc.message
    for prefix, rule in (
        ("invalid YAML", "invalid-yaml"),
        ("unknown key", "unknown-key"),
        ("empty file", "empty-file"),
        ("binary file", "binary-file"),
        ("invalid UTF-8", "binary-file"),
        ("expected a file but found a directory", "not-a-file"),
    ):
        if msg.startswith(prefix):
            return rule
    return "invalid-file"


@dataclass
class _Candidate:
    path: Path
    name: str  # from the path
    version: int | None  # from the path; None = draft


def _candidates(registry: PromptRegistry, problems: list[LintProblem]) -> list[_Candidate]:
    out: list[_Candidate] = []
    directory = registry.directory
    if not directory.is_dir():
        return out
    for entry in sorted(directory.iterdir()):
        rel = registry.rel(entry)
        if entry.name.startswith(".") or entry.name == "prompts.lock":
            continue
        if entry.name.endswith(".yaml"):
            out.append(_Candidate(entry, entry.name[:-5], None))
        elif entry.is_dir():
            for sub in sorted(entry.iterdir()):
                if sub.name.startswith("."):
                    continue
                match = _VERSION_FILE.match(sub.name)
                if match:
                    out.append(_Candidate(sub, entry.name, int(match.group(1))))
                else:
                    problems.append(
                        LintProblem(
                            registry.rel(sub),
                            None,
                            None,
                            entry.name,
                            None,
                            "unexpected file in a release folder: released versions are "
                            "named <N>.yaml and written by `llmops prompt release`",
                            "unexpected-file",
                        )
                    )
        else:
            problems.append(
                LintProblem(
                    rel,
                    None,
                    None,
                    None,
                    None,
                    "not a prompt: drafts are named <name>.yaml (this file is ignored)",
                    "unexpected-file",
                )
            )
    return out


@dataclass(frozen=True)
class _Reporter:
    """Records problems of one prompt file: ``problem(message, rule, line, key)``."""

    problems: list[LintProblem]
    rel: str
    name: str
    version: str

    def __call__(
        self, message: str, rule: str, line: int | None = None, key: str | None = None
    ) -> None:
        self.problems.append(
            LintProblem(self.rel, line, key, self.name, self.version, message, rule)
        )


def lint_registry(registry: PromptRegistry) -> list[LintProblem]:
    """Check every file in the prompts folder and the lock; return all problems found."""
    problems: list[LintProblem] = []
    try:
        lock = LockFile.read(registry.lock_path)
    except ConfigError as exc:
        problems.append(
            LintProblem(
                registry.rel(registry.lock_path),
                exc.line,
                exc.key,
                None,
                None,
                exc.message,
                "invalid-lock",
            )
        )
        lock = None
    claims: dict[tuple[str, str], list[str]] = defaultdict(list)
    present: set[tuple[str, int]] = set()
    for cand in _candidates(registry, problems):
        rel = registry.rel(cand.path)
        version = str(cand.version) if cand.version is not None else "draft"

        problem = _Reporter(problems, rel, cand.name, version)

        if cand.version is not None:
            present.add((cand.name, cand.version))
        try:
            source = read_prompt(cand.path)
        except ConfigError as exc:
            problem(exc.message, _rule_of(exc), exc.line, exc.key)
            continue
        _check_file(source, cand, problem)
        claimed = source.prompt.version
        claims[(source.prompt.name, str(claimed) if claimed else "draft")].append(rel)
        if cand.version is not None and lock is not None:
            entry = lock.prompts.get(cand.name)
            recorded = entry.versions.get(cand.version) if entry else None
            if recorded is None:
                problem(
                    "released file is not recorded in prompts.lock; "
                    "only `llmops prompt release` creates released files",
                    "not-in-lock",
                )
            elif recorded.hash != content_hash(source.prompt):
                problem(
                    "content no longer matches its hash in prompts.lock "
                    "(released versions are immutable: restore it, release a new version)",
                    "hash-mismatch",
                )
    for (name, version), files in sorted(claims.items()):
        if len(files) > 1:
            for file in files:
                others = ", ".join(f for f in files if f != file)
                problems.append(
                    LintProblem(
                        file,
                        None,
                        "name",
                        name,
                        version,
                        f"two files claim {name}@{version}: also {others}",
                        "duplicate-version",
                    )
                )
    if lock is not None:
        problems.extend(_check_lock(registry, lock, present))
    return problems


def _check_file(source: PromptSource, cand: _Candidate, problem: _ProblemFn) -> None:
    prompt, doc = source.prompt, source.doc
    if prompt.name != cand.name:
        expected = f"{prompt.name}.yaml" if cand.version is None else f"{prompt.name}/"
        problem(
            f"name '{prompt.name}' does not match the path (expected {expected})",
            "name-mismatch",
            doc.line_of(["name"]),
            "name",
        )
    if cand.version is None and prompt.version is not None:
        problem(
            "a working draft carries no 'version': `llmops prompt release` adds it",
            "draft-has-version",
            doc.line_of(["version"]),
            "version",
        )
    elif cand.version is not None and prompt.version != cand.version:
        problem(
            f"file says version {prompt.version} but its path says {cand.version}",
            "version-mismatch",
            doc.line_of(["version"]) or doc.line_of(["name"]),
            "version",
        )
    for tp in check_templates(source):
        problem(tp.message, tp.rule, tp.line, tp.key)


class _ProblemFn(Protocol):
    def __call__(
        self, message: str, rule: str, line: int | None = None, key: str | None = None
    ) -> None: ...


def _check_lock(
    registry: PromptRegistry, lock: LockFile, present: set[tuple[str, int]]
) -> list[LintProblem]:
    out: list[LintProblem] = []
    lock_rel = registry.rel(registry.lock_path)
    try:
        lines = load_yaml(registry.lock_path) if registry.lock_path.exists() else None
    except ConfigError:  # pragma: no cover - the lock parsed a moment ago
        lines = None
    for name, entry in sorted(lock.prompts.items()):
        for version in sorted(entry.versions):
            if (name, version) not in present:
                out.append(
                    LintProblem(
                        registry.rel(registry.version_path(name, version)),
                        None,
                        None,
                        name,
                        str(version),
                        "recorded in prompts.lock but the file is missing "
                        "(restore it from version control)",
                        "missing-file",
                    )
                )
        for label, version in sorted(entry.labels.items()):
            if version not in entry.versions:
                known = ", ".join(str(v) for v in sorted(entry.versions)) or "none"
                out.append(
                    LintProblem(
                        lock_rel,
                        lines.line_of(["prompts", name, "labels", label]) if lines else None,
                        f"prompts.{name}.labels.{label}",
                        name,
                        str(version),
                        f"label '{label}' points to missing version {version} "
                        f"(released: {known}); move it with `llmops prompt label`",
                        "label-missing-version",
                    )
                )
    return out
