"""A small RAG project on disk for tests: ``llmops.yaml``, ``docs/``, one pipeline, prompts.

Importable from every test folder (``tests/`` is on ``sys.path`` through its conftest.py):
``from project_files import rag_project_at, write_rag_project``.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "docs_pipeline",
    "extractive_rag_gateway",
    "rag_project_at",
    "write_docs",
    "write_rag_project",
]


def docs_pipeline(extra: str = "sparse:\n  enabled: false\nstore:\n  retention: 3\n") -> str:
    """Return rag_pipelines/docs.yaml: ``docs/`` in 64-token chunks, plus ``extra`` YAML."""
    base = "name: docs\nsources:\n  - path: docs\nchunking:\n  chunk_size: 64\n  chunk_overlap: 8\n"
    return base + textwrap.dedent(extra)


def write_docs(root: Path, docs: dict[str, str]) -> None:
    """Write ``docs`` ({relative path: text}, dedented) under ``root``."""
    for rel, text in docs.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def write_rag_project(
    root: Path, docs: dict[str, str], *, pipeline: str | None = None, prompts: Path | None = None
) -> Path:
    """Write a project named after ``root`` with ``docs``; copy the ``prompts`` folder if given."""
    (root / "rag_pipelines").mkdir(parents=True)
    (root / "llmops.yaml").write_text(f"project: {root.name}\n", encoding="utf-8")
    (root / "rag_pipelines" / "docs.yaml").write_text(pipeline or docs_pipeline(), "utf-8")
    write_docs(root / "docs", docs)
    if prompts is not None:
        shutil.copytree(prompts, root / "prompts")
    return root


@contextmanager
def rag_project_at(
    root: Path, docs: dict[str, str], *, prompts: Path | None = None
) -> Iterator[Path]:
    """``write_rag_project`` with the default pipeline; release the stores it opened after."""
    from llmops.rag.store import close_stores

    try:
        yield write_rag_project(root, docs, prompts=prompts)
    finally:
        close_stores()


def extractive_rag_gateway(k: int = 2) -> dict[str, Any]:
    """Return a gateway config: route ``qa`` answers from pipeline ``docs`` with the offline model."""
    route = {
        "upstream": "offline",
        "prompt": "rag-answer@production",
        "pipeline": "docs",
        "retrieval": {"k": k},
    }
    return {"upstreams": {"offline": {"kind": "extractive"}}, "routes": {"qa": route}}
