"""Scaffolding for ``llmops init``: copy the example project shipped in ``_data/scaffold``.

Each area ships its own example file there (a prompt, a pipeline, a suite, a golden set, the
gateway config), so the scaffold always matches the current file formats; a test runs the
scaffolded project's own checks.
"""

from __future__ import annotations

from pathlib import Path

from llmops.atomic import atomic_write_bytes
from llmops.errors import UsageError

__all__ = ["SCAFFOLD_DIR", "scaffold"]

SCAFFOLD_DIR = Path(__file__).parent / "_data" / "scaffold"

GITIGNORE = ".llmops/\n.venv/\n__pycache__/\n"


def _files() -> list[tuple[Path, bytes]]:
    out = [(Path(".gitignore"), GITIGNORE.encode())]
    for path in sorted(SCAFFOLD_DIR.rglob("*")):
        if path.is_file() and path.name != ".keep" and "__pycache__" not in path.parts:
            out.append((path.relative_to(SCAFFOLD_DIR), path.read_bytes()))
    return out


def scaffold(directory: Path, *, force: bool = False) -> list[Path]:
    """Create the project layout in ``directory``; refuse to overwrite unless ``force``."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"'{directory}' exists and is not a folder")
    files = _files()
    clashes = [rel for rel, _ in files if (directory / rel).exists()]
    if clashes and not force:
        raise UsageError(
            f"'{directory / clashes[0]}' already exists ({len(clashes)} file(s) would be replaced)",
            hint="pass --force to overwrite, or choose an empty folder",
        )
    for folder in ("prompts", "rag_pipelines", "evals", "golden_sets", "serving", "models"):
        (directory / folder).mkdir(parents=True, exist_ok=True)
    written = []
    for rel, data in files:
        atomic_write_bytes(directory / rel, data)
        written.append(directory / rel)
    return written
