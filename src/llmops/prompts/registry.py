"""The prompt registry: drafts in ``prompts/<name>.yaml``, releases in ``prompts/<name>/<N>.yaml``.

Refs: ``name@3`` (a version), ``name@production`` (a label), ``name@latest`` (highest released),
``name@draft`` (the working file), ``name`` (the ``production`` label, else the latest release).
Released files are immutable; ``prompts.lock`` holds their content hashes and the labels.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from llmops.errors import (
    CheckFailedError,
    ConfigError,
    LLMOpsError,
    NotFoundError,
    UsageError,
)
from llmops.files import did_you_mean, file_lock, sha256_text
from llmops.prompts.lock import (
    DEFAULT_LABEL,
    LockFile,
    PromptLock,
    VersionEntry,
    check_label_name,
)
from llmops.prompts.model import NAME_PATTERN, content_hash
from llmops.prompts.version import (
    PromptSource,
    PromptVersion,
    create_exclusive,
    read_prompt,
    released_text,
)

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.prompts.diff import PromptDiff
    from llmops.prompts.lint import LintProblem
    from llmops.prompts.mlflow_sync import PushReport

__all__ = [
    "DEFAULT_LABEL",
    "LOCK_FILENAME",
    "LabelResult",
    "PromptRegistry",
    "PromptSummary",
    "ReleaseResult",
    "UnlabelResult",
    "load_registry",
    "parse_ref",
]

LOCK_FILENAME = "prompts.lock"
_NAME = re.compile(NAME_PATTERN)
_REF_HINT = "use NAME, NAME@3, NAME@production, NAME@latest or NAME@draft"


def parse_ref(ref: str) -> tuple[str, str | None]:
    """Split ``name@selector``; raise UsageError for a malformed reference."""
    name, sep, selector = ref.strip().partition("@")
    if not _NAME.match(name) or (sep and not re.match(r"^[A-Za-z0-9_-]+$", selector)):
        raise UsageError(f"invalid prompt reference '{ref}'", hint=_REF_HINT)
    return name, (selector if sep else None)


class PromptSummary(BaseModel):
    """One row of ``llmops prompt list``."""

    name: str
    description: str | None
    versions: list[int]
    labels: dict[str, int]
    latest: int | None
    draft: Literal["none", "new", "unchanged", "changed", "invalid"]


class ReleaseResult(BaseModel):
    """What ``release`` wrote."""

    name: str
    version: int
    content_hash: str
    file: str


class LabelResult(BaseModel):
    """What ``label`` changed."""

    name: str
    label: str
    version: int
    previous: int | None


class UnlabelResult(BaseModel):
    """What ``unlabel`` removed, and what the bare prompt name resolves to now."""

    name: str
    label: str
    previous: int
    bare_resolves_to: int | None


class PromptRegistry:
    """Prompts of one project: resolve refs, render, lint, release, label, diff, push."""

    def __init__(
        self, directory: Path, *, project_root: Path | None = None, state_dir: Path | None = None
    ) -> None:
        self.directory = Path(directory).resolve()
        self.project_root = (project_root or self.directory.parent).resolve()
        state = state_dir or self.project_root / ".llmops"
        # The prompts folder itself is the mutex (a directory lock writes nothing into it), so
        # processes with different state roots (LLMOPS_HOME) exclude each other too; the state
        # lock file is for a folder that does not exist yet.
        digest = sha256_text(str(self.directory))[:16]
        self._state_mutex = state / "locks" / f"prompts-{digest}.lock"
        self.settings: Settings | None = None
        # Parsed files keyed by their bytes: a gateway calls get() per request, and parsing,
        # validating and hashing unchanged YAML again would cost milliseconds each time.
        self._lock_cache: tuple[_Stamp, LockFile] | None = None
        self._versions: dict[tuple[str, int | None], tuple[_Stamp, str, PromptVersion]] = {}

    # ---- paths -------------------------------------------------------------------------------

    @property
    def lock_path(self) -> Path:
        """Return the path of ``prompts.lock``."""
        return self.directory / LOCK_FILENAME

    def draft_path(self, name: str) -> Path:
        """Return the working-draft file of ``name``."""
        return self.directory / f"{name}.yaml"

    def version_path(self, name: str, version: int) -> Path:
        """Return the released file of ``name@version``."""
        return self.directory / name / f"{version}.yaml"

    def rel(self, path: Path) -> str:
        """Return ``path`` relative to the project root when inside it."""
        try:
            return str(path.resolve().relative_to(self.project_root))
        except ValueError:
            return str(path)

    def read_lock(self) -> LockFile:
        """Return the lock file (empty when absent); ConfigError when it is invalid."""
        return self._lock().model_copy(deep=True)

    def _lock(self) -> LockFile:
        stamp = _stamp(self.lock_path)
        if self._lock_cache is None or self._lock_cache[0] != stamp or stamp is None:
            with self._relative_errors():
                self._lock_cache = (stamp, LockFile.read(self.lock_path))
        return self._lock_cache[1]

    def names(self) -> list[str]:
        """Return every prompt name with a draft, a release folder or a lock entry."""
        found: set[str] = set()
        if self.directory.is_dir():
            for entry in self.directory.iterdir():
                stem = entry.name[:-5] if entry.name.endswith(".yaml") else entry.name
                if entry.name.endswith(".yaml") or (entry.is_dir() and _NAME.match(entry.name)):
                    if _NAME.match(stem):
                        found.add(stem)
        with contextlib.suppress(ConfigError):
            found |= set(self._lock().prompts)
        return sorted(found)

    # ---- resolving ---------------------------------------------------------------------------

    def resolve(self, ref: str) -> tuple[str, int | None]:
        """Return ``(name, version)`` for ``ref``; version None means the draft."""
        name, selector = parse_ref(ref)
        entry = self._lock().prompts.get(name)
        has_draft = self.draft_path(name).exists()
        if entry is None or not entry.versions:
            if selector == "draft" and has_draft:
                return name, None
            if not has_draft and entry is None:
                known = self.names()
                guess = did_you_mean(name, known)
                raise NotFoundError(
                    f"no prompt named '{name}'" + (f" (did you mean '{guess}'?)" if guess else ""),
                    hint=f"prompts in {self.rel(self.directory)}: " + (", ".join(known) or "none"),
                )
            raise NotFoundError(
                f"prompt '{name}' has no released versions",
                hint=f"use '{name}@draft', or release it: llmops prompt release {name}",
            )
        if selector is None:
            return name, entry.labels.get(DEFAULT_LABEL, entry.latest)
        if selector == "draft":
            if not has_draft:
                raise NotFoundError(
                    f"prompt '{name}' has no working draft ({self.rel(self.draft_path(name))})"
                )
            return name, None
        if selector == "latest":
            return name, entry.latest
        if selector.isdigit():
            version = int(selector)
            if version not in entry.versions:
                raise NotFoundError(
                    f"prompt '{name}' has no version {version}",
                    hint=_what_exists(name, entry),
                )
            return name, version
        if selector in entry.labels:
            return name, entry.labels[selector]
        prefixed = [label for label in sorted(entry.labels) if label.startswith(selector)]
        guess = did_you_mean(selector, list(entry.labels)) or (prefixed[0] if prefixed else None)
        raise NotFoundError(
            f"prompt '{name}' has no label '{selector}'"
            + (f" (did you mean '{guess}'?)" if guess else ""),
            hint=_what_exists(name, entry),
        )

    def get(self, ref: str) -> PromptVersion:
        """Return the version ``ref`` names, verified against the lock."""
        name, version = self.resolve(ref)
        path = self.draft_path(name) if version is None else self.version_path(name, version)
        stamp = _stamp(path)
        recorded = "" if version is None else self._lock().prompts[name].versions[version].hash
        cached = self._versions.get((name, version))
        if stamp is not None and cached is not None and cached[:2] == (stamp, recorded):
            return cached[2]
        found = self._load(name, version)
        self._versions[(name, version)] = (stamp, recorded, found)
        return found

    def _load(self, name: str, version: int | None) -> PromptVersion:
        with self._relative_errors():
            if version is None:
                source = read_prompt(self.draft_path(name))
                self._check_identity(source, name, None)
                return PromptVersion.from_source(source, None)
            path = self.version_path(name, version)
            if not path.exists():
                raise ConfigError(
                    f"'{name}@{version}' is recorded in {LOCK_FILENAME} but its file is missing",
                    file=path,
                    hint="restore it from version control; released files are immutable",
                )
            source = read_prompt(path)
            self._check_identity(source, name, version)
            found = PromptVersion.from_source(source, version)
            recorded = self._lock().prompts[name].versions[version].hash
            if found.content_hash != recorded:
                raise ConfigError(
                    f"'{name}@{version}' no longer matches its hash in {LOCK_FILENAME}"
                    " (released versions are immutable)",
                    file=path,
                    hint=f"restore the file from version control; to change the prompt, edit "
                    f"{self.rel(self.draft_path(name))} and run `llmops prompt release {name}`",
                )
            return found

    def _check_identity(self, source: PromptSource, name: str, version: int | None) -> None:
        prompt = source.prompt
        if prompt.name != name:
            raise ConfigError(
                f"file says name '{prompt.name}' but its path says '{name}'",
                file=source.path,
                line=source.doc.line_of(["name"]),
                key="name",
            )
        if prompt.version != version:
            where = "a working draft carries no version" if version is None else None
            raise ConfigError(
                where or f"file says version {prompt.version} but its path says {version}",
                file=source.path,
                line=source.doc.line_of(["version"]) or 1,
                key="version",
            )

    @contextlib.contextmanager
    def _relative_errors(self) -> Iterator[None]:
        try:
            yield
        except LLMOpsError as exc:
            if exc.file:
                exc.file = self.rel(Path(exc.file))
            raise

    # ---- reading -----------------------------------------------------------------------------

    def list(self) -> builtins.list[PromptSummary]:
        """Return one summary per prompt."""
        lock = self.read_lock()
        out: list[PromptSummary] = []
        for name in self.names():
            entry = lock.prompts.get(name, PromptLock())
            draft: Literal["none", "new", "unchanged", "changed", "invalid"] = "none"
            description = None
            if self.draft_path(name).exists():
                try:
                    source = read_prompt(self.draft_path(name))
                except ConfigError:
                    draft = "invalid"
                else:
                    description = source.prompt.description
                    latest = entry.versions.get(entry.latest) if entry.latest else None
                    same = latest is not None and latest.hash == content_hash(source.prompt)
                    draft = "new" if latest is None else "unchanged" if same else "changed"
            out.append(
                PromptSummary(
                    name=name,
                    description=description,
                    versions=sorted(entry.versions),
                    labels=dict(sorted(entry.labels.items())),
                    latest=entry.latest,
                    draft=draft,
                )
            )
        return out

    def diff(self, ref_a: str, ref_b: str) -> PromptDiff:
        """Return the template, variable and parameter changes from ``ref_a`` to ``ref_b``."""
        from llmops.prompts.diff import diff_versions

        return diff_versions(self.get(ref_a), self.get(ref_b))

    def lint(self) -> builtins.list[LintProblem]:
        """Return every problem in the prompts folder and the lock (empty when clean)."""
        from llmops.prompts.lint import lint_registry

        return lint_registry(self)

    def push(self, tracking_uri: str | None = None) -> PushReport:
        """Register every released version in MLflow's prompt registry; labels become aliases."""
        from llmops.prompts.mlflow_sync import push_to_mlflow

        if tracking_uri is None:
            if self.settings is None:
                raise UsageError("no MLflow tracking URI: pass one or load the registry settings")
            tracking_uri = self.settings.mlflow_tracking_uri
        return push_to_mlflow(self, tracking_uri)

    # ---- writing -----------------------------------------------------------------------------

    def _mutex(self) -> Path:
        return self.directory if self.directory.is_dir() else self._state_mutex

    def release(self, name: str, *, note: str | None = None) -> ReleaseResult:
        """Freeze the draft of ``name`` as the next version and record it in the lock."""
        parse_ref(name)
        if "@" in name:
            raise UsageError(f"release takes a prompt name, not a reference: '{name}'")
        with file_lock(self._mutex(), what="the prompt registry"):
            problems = [p for p in self.lint() if p.name in (name, None)]
            if problems:
                raise CheckFailedError(
                    f"refusing to release '{name}': {len(problems)} lint problem(s)",
                    problems=[str(p) for p in problems],
                    hint="fix them (llmops prompt lint), then release again",
                )
            draft_path = self.draft_path(name)
            if not draft_path.exists():
                self.resolve(f"{name}@draft")  # raises the did-you-mean NotFoundError
            lock = self.read_lock()
            entry = lock.prompts.setdefault(name, PromptLock())
            source = read_prompt(draft_path)
            digest = content_hash(source.prompt)
            latest = entry.latest
            if latest is not None and entry.versions[latest].hash == digest:
                raise UsageError(
                    f"nothing to release: the draft of '{name}' is identical to '{name}@{latest}'",
                    hint=f"edit {self.rel(draft_path)} first",
                )
            version = (latest or 0) + 1
            text = released_text(source, version)
            target = self.version_path(name, version)
            create_exclusive(target, text)
            try:
                now = dt.datetime.now(dt.UTC).replace(microsecond=0)
                entry.versions[version] = VersionEntry(
                    hash=digest, released_at=now.isoformat().replace("+00:00", "Z"), note=note
                )
                lock.write(self.lock_path)
            except BaseException:
                target.unlink(missing_ok=True)
                raise
            return ReleaseResult(
                name=name, version=version, content_hash=digest, file=self.rel(target)
            )

    def label(self, ref: str, label: str, *, create: bool = False) -> LabelResult:
        """Point ``label`` at the released version ``ref`` names.

        A label no prompt of the project uses yet (a typo such as ``prodution``) is refused
        unless ``create``: labels are what gateways and suites resolve, so a new one is a
        decision, not a side effect.
        """
        check_label_name(label)
        name, selector = parse_ref(ref)
        if selector == "draft":
            raise UsageError(
                f"cannot label '{ref}': labels point at released versions, not the working draft",
                hint=f"release it first: llmops prompt release {name}",
            )
        with file_lock(self._mutex(), what="the prompt registry"):
            name, version = self.resolve(ref)
            if version is None:  # pragma: no cover - resolve returns None only for @draft
                raise UsageError(f"cannot label '{ref}'")
            self.get(f"{name}@{version}")  # refuse to label a tampered release
            lock = self.read_lock()
            in_use = lock.labels_in_use()
            if label not in in_use and not create:
                guess = did_you_mean(label, sorted(in_use))
                raise UsageError(
                    f"label '{label}' is not in use yet"
                    + (f" (did you mean '{guess}'?)" if guess else ""),
                    hint=f"labels in use: {', '.join(sorted(in_use))}; to create '{label}': "
                    f"llmops prompt label {ref} {label} --new",
                )
            entry = lock.prompts[name]
            previous = entry.labels.get(label)
            entry.labels[label] = version
            lock.write(self.lock_path)
        return LabelResult(name=name, label=label, version=version, previous=previous)

    def unlabel(self, name: str, label: str) -> UnlabelResult:
        """Remove ``label`` from prompt ``name``."""
        check_label_name(label)
        if "@" in name:
            raise UsageError(
                f"unlabel takes a prompt name and a label, not a reference: '{name}'",
                hint=f"llmops prompt unlabel {name.partition('@')[0]} {label}",
            )
        with file_lock(self._mutex(), what="the prompt registry"):
            self.resolve(name)  # did-you-mean for an unknown prompt
            lock = self.read_lock()
            entry = lock.prompts[name]
            if label not in entry.labels:
                guess = did_you_mean(label, list(entry.labels))
                raise NotFoundError(
                    f"prompt '{name}' has no label '{label}'"
                    + (f" (did you mean '{guess}'?)" if guess else ""),
                    hint=_what_exists(name, entry),
                )
            previous = entry.labels.pop(label)
            lock.write(self.lock_path)
        bare = entry.labels.get(DEFAULT_LABEL, entry.latest)
        return UnlabelResult(name=name, label=label, previous=previous, bare_resolves_to=bare)


_Stamp = bytes | None


def _stamp(path: Path) -> _Stamp:
    """Return the file's bytes: reading is cheap, parsing is not; mtimes are too coarse."""
    try:
        return path.read_bytes()
    except OSError:
        return None


def _what_exists(name: str, entry: PromptLock) -> str:
    versions = ", ".join(str(v) for v in sorted(entry.versions)) or "none"
    labels = ", ".join(f"{k} -> {v}" for k, v in sorted(entry.labels.items())) or "none"
    return f"{name}: versions {versions}; labels {labels}; also @latest and @draft"


def load_registry(root: Path | str | Settings | None = None) -> PromptRegistry:
    """Return the registry of the project at ``root`` (a folder or Settings; default: cwd)."""
    from llmops.config import Settings, load_settings

    settings = root if isinstance(root, Settings) else load_settings(root)
    registry = PromptRegistry(
        settings.path("prompts"), project_root=settings.root, state_dir=settings.state_path
    )
    registry.settings = settings
    return registry
