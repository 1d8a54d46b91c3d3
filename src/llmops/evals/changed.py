"""``--changed-since REF``: which suites must run because their inputs changed since a git ref.

A suite's inputs are its own file, its golden sets, its baseline, the prompt of its target
(``prompts/<name>.yaml``, ``prompts/<name>/``, ``prompts/prompts.lock``), its RAG pipeline
(``rag_pipelines/<name>.yaml``) and its rubric prompts. Changes are committed changes since
REF, plus staged, unstaged and untracked files.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from llmops.errors import UsageError

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.evals.suite import Suite

__all__ = ["changed_files", "suite_inputs", "suites_changed_since"]


def _git(root: Path, *args: str) -> list[str]:
    try:
        out = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(
            f"cannot run git: {exc}", hint="install git or drop --changed-since"
        ) from None
    if out.returncode != 0:
        raise UsageError(
            f"git {' '.join(args[:2])} failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}",
            hint="--changed-since needs a git checkout and a ref that exists (fetch it first in CI)",
        )
    return [line for line in out.stdout.splitlines() if line.strip()]


def changed_files(root: Path, ref: str) -> set[Path]:
    """Return absolute paths changed since ``ref`` (committed, staged, unstaged, untracked)."""
    top = Path(_git(root, "rev-parse", "--show-toplevel")[0])
    names = set(_git(root, "diff", "--name-only", ref, "--"))
    names |= set(_git(root, "ls-files", "--others", "--exclude-standard"))
    return {(top / name).resolve() for name in names}


def suite_inputs(suite: Suite, settings: Settings) -> set[Path]:
    """Return the files whose change makes ``suite`` worth re-running."""
    paths: set[Path] = set(suite.dataset_files) | {suite.baseline_path}
    if suite.path is not None:
        paths.add(suite.path)
    prompts = settings.path("prompts")
    refs = [suite.target.prompt] if suite.target.prompt else []
    refs += [str(m.value) for m in suite.metrics if m.type.startswith("judge") and m.value]
    if any(m.type == "judge-rag" and not m.value for m in suite.metrics):
        refs.append("judge-rag")
    for ref in refs:
        name = ref.split("@", 1)[0]
        paths |= {prompts / f"{name}.yaml", prompts / name, prompts / "prompts.lock"}
    if suite.target.pipeline:
        paths.add(settings.path("pipelines") / f"{suite.target.pipeline}.yaml")
    return {p.resolve() for p in paths}


def suites_changed_since(
    suites: list[Suite], ref: str, settings: Settings
) -> list[tuple[Suite, list[Path]]]:
    """Return each suite with its changed inputs; suites with none are left out."""
    changed = changed_files(settings.root, ref)
    out = []
    for suite in suites:
        hits = []
        for path in sorted(suite_inputs(suite, settings)):
            if path in changed or any(c.is_relative_to(path) for c in changed if path.suffix == ""):
                hits.append(path)
        if hits:
            out.append((suite, hits))
    return out
