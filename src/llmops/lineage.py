"""Lineage: which prompt version, index version, upstream model and judge produced a result.

Every answer, trace row and eval row carries one of these. This module imports only pydantic.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from pydantic import BaseModel, ConfigDict

__all__ = [
    "IndexLineage",
    "JudgeLineage",
    "Lineage",
    "PromptLineage",
    "git_commit",
    "llmops_version",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PromptLineage(_Frozen):
    """A released (or draft) prompt version."""

    name: str
    version: str
    content_hash: str

    @property
    def ref(self) -> str:
        """Return ``name@version``."""
        return f"{self.name}@{self.version}"


class IndexLineage(_Frozen):
    """A built RAG index version."""

    pipeline: str
    index_version: str
    pipeline_hash: str
    embedding_model: str | None = None
    collection: str | None = None


class JudgeLineage(_Frozen):
    """The judge that scored a result."""

    model: str
    base_url: str | None = None
    rubric: PromptLineage | None = None


class Lineage(_Frozen):
    """Everything that produced one answer or eval row."""

    prompt: PromptLineage | None = None
    index: IndexLineage | None = None
    upstream: str | None = None
    upstream_model: str | None = None
    judge: JudgeLineage | None = None
    dataset_hash: str | None = None
    llmops_version: str | None = None
    git_commit: str | None = None


def llmops_version() -> str:
    """Return the installed llmops version."""
    from llmops import __version__

    return __version__


@functools.lru_cache(maxsize=32)
def git_commit(cwd: Path | None = None) -> str | None:
    """Return the HEAD commit of the git checkout at ``cwd``, or None outside git."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
