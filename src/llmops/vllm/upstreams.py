"""Announce running model servers to the gateway: ``<state>/upstreams/<served_name>.json``.

``llmops vllm launch`` writes one file per healthy server and removes it when the server stops.
The gateway (or anything else) can read the folder to find OpenAI-compatible upstreams::

    {"name": "qwen", "kind": "openai", "base_url": "http://127.0.0.1:8000/v1", "model": "qwen",
     "health_url": "http://127.0.0.1:8000/health", "pid": 4242, "profile": ".../qwen.yaml",
     "started_at": "2026-11-26T08:00:00+00:00", "command": ["python", "-m", ...]}
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmops.errors import StateError

__all__ = [
    "UPSTREAMS_DIR",
    "UpstreamRecord",
    "list_upstreams",
    "pid_alive",
    "read_upstream",
    "register_upstream",
    "unregister_upstream",
    "upstream_file",
]

UPSTREAMS_DIR = "upstreams"


class UpstreamRecord(BaseModel):
    """A running OpenAI-compatible server, as announced to the gateway."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="the served model name; also the file name")
    kind: Literal["openai"] = "openai"
    base_url: str = Field(description="OpenAI API root, ending in /v1")
    model: str = Field(description="model id to send upstream")
    health_url: str
    pid: int | None = Field(None, description="server process id when launched by llmops")
    profile: str | None = Field(None, description="the profile file it was launched from")
    started_at: str
    command: list[str] = Field(default_factory=list)


def upstream_file(state_path: Path, name: str) -> Path:
    """Return the announcement file of ``name`` (slashes in model ids become ``--``)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", name.replace("/", "--"))
    return state_path / UPSTREAMS_DIR / f"{safe}.json"


def register_upstream(state_path: Path, record: UpstreamRecord) -> Path:
    """Write (atomically) the announcement file for ``record`` and return its path."""
    from llmops.atomic import atomic_write_json

    path = upstream_file(state_path, record.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, record.model_dump(mode="json"))
    return path


def unregister_upstream(state_path: Path, name: str) -> bool:
    """Remove the announcement of ``name``; return whether there was one."""
    path = upstream_file(state_path, name)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def read_upstream(path: Path) -> UpstreamRecord:
    """Read one announcement file."""
    try:
        return UpstreamRecord.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError) as exc:
        raise StateError(
            f"unreadable upstream announcement: {exc}",
            file=path,
            hint="delete the file; `llmops vllm launch` writes it again",
        ) from None


def list_upstreams(state_path: Path) -> list[UpstreamRecord]:
    """Return every announced upstream, sorted by name."""
    folder = state_path / UPSTREAMS_DIR
    if not folder.is_dir():
        return []
    records = [read_upstream(p) for p in sorted(folder.glob("*.json"))]
    return sorted(records, key=lambda r: r.name)


def pid_alive(pid: int | None) -> bool:
    """Return whether a process with ``pid`` is running (zombies count as gone)."""
    if pid is None or pid <= 0:
        return False
    try:
        # Reap our own finished child; otherwise it lingers as a zombie that still "exists".
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
