"""Shared data and helpers of the prompt tests (a plain module: `conftest` names are ambiguous)."""

from __future__ import annotations

from pathlib import Path

GREET_DRAFT = """\
name: greet
description: Greet someone.
variables:
  who:
    type: string
    description: Who to greet.
  times:
    type: integer
    default: 1
messages:
  - role: system
    content: You are polite.
  - role: user
    content: |
      Say hello to {{ who }} {{ times }} time(s).
params:
  temperature: 0.1
"""


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Return every file and folder under ``root`` with its bytes (None for folders)."""
    out: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = None if path.is_dir() else path.read_bytes()
    return out
