"""``prompts/prompts.lock``: released versions with their content hashes, and the labels.

YAML, sorted, one fact per line so that a release or a label move is a small, readable diff.
Only ``llmops prompt release``, ``label`` and ``unlabel`` write it (atomically).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmops.errors import UsageError
from llmops.files import atomic_write_text, load_yaml_model

__all__ = [
    "DEFAULT_LABEL",
    "LABEL_PATTERN",
    "RESERVED_LABELS",
    "LockFile",
    "PromptLock",
    "VersionEntry",
    "check_label_name",
]

LABEL_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*$")
RESERVED_LABELS = frozenset({"latest", "draft"})
DEFAULT_LABEL = "production"  # what a bare prompt name resolves to


def check_label_name(label: str) -> None:
    """Raise UsageError unless ``label`` is a valid, unreserved label name."""
    if not LABEL_PATTERN.match(label) or label in RESERVED_LABELS or label.isdigit():
        raise UsageError(
            f"invalid label '{label}'",
            hint="labels are lowercase words (production, staging, canary); "
            "'latest' and 'draft' are reserved",
        )


_HEADER = (
    "# Written by `llmops prompt release` and `llmops prompt label`; do not edit by hand.\n"
    "# Each released version's content hash is checked by `llmops prompt lint`.\n"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VersionEntry(_Strict):
    """One released version."""

    hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    released_at: str
    note: str | None = None


class PromptLock(_Strict):
    """Versions and labels of one prompt."""

    versions: dict[int, VersionEntry] = Field(default_factory=dict)
    labels: dict[str, int] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: dict[str, int]) -> dict[str, int]:
        for label in value:
            if not LABEL_PATTERN.match(label) or label in RESERVED_LABELS:
                raise ValueError(f"invalid label name '{label}'")
        return value

    @property
    def latest(self) -> int | None:
        """Return the highest released version, or None."""
        return max(self.versions) if self.versions else None


class LockFile(_Strict):
    """The whole lock file."""

    lock_version: int = Field(1, ge=1, le=1)
    prompts: dict[str, PromptLock] = Field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> LockFile:
        """Load the lock (an absent file is an empty lock); raise ConfigError when invalid."""
        if not path.exists():
            return cls()
        return load_yaml_model(path, cls)

    def labels_in_use(self) -> set[str]:
        """Return every label of the project, plus ``production`` (a bare name's label)."""
        return {DEFAULT_LABEL, *(label for e in self.prompts.values() for label in e.labels)}

    def dumps(self) -> str:
        """Return the canonical text: header comment plus sorted YAML."""
        data = self.model_dump(mode="json", exclude_none=True)
        # JSON mode turns int keys into strings; keep them numeric and numerically sorted.
        for name, entry in self.prompts.items():
            data["prompts"][name]["versions"] = {
                n: v.model_dump(mode="json", exclude_none=True)
                for n, v in sorted(entry.versions.items())
            }
        body = yaml.safe_dump(data, sort_keys=True, default_flow_style=False, allow_unicode=True)
        return _HEADER + body

    def write(self, path: Path) -> None:
        """Write the lock atomically."""
        atomic_write_text(path, self.dumps())
