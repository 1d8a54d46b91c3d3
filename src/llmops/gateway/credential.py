"""The local admin credential: how the CLI on this machine reaches a running gateway.

While the gateway runs it owns the embedded stores (Qdrant allows one process per folder), so
``llmops query``, ``index status``/``run`` and in-process evals go through its admin API. At
start the gateway writes ``<state>/gateway/admin.json`` (mode 0600: its owner only) with its
URL, a random token it accepts as an admin key (also with auth off) and its pid; a clean
shutdown removes it. A reader ignores a file whose process is gone (stale) and refuses one
that others could read or that another user owns.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from llmops.errors import StateError

__all__ = [
    "LocalCredential",
    "credential_path",
    "read_credential",
    "remove_credential",
    "write_credential",
]

log = logging.getLogger("llmops.gateway")


@dataclass(frozen=True)
class LocalCredential:
    """A running gateway's address and admin token."""

    url: str
    token: str
    pid: int
    path: Path


def credential_path(state_path: Path) -> Path:
    """Return where a gateway using ``state_path`` writes its credential."""
    return state_path / "gateway" / "admin.json"


def _process_start(pid: int) -> str | None:
    """Return the process's start time (clock ticks since boot) where /proc has it."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    # Field 22; the command name (field 2) may hold spaces, so count after its closing ')'.
    fields = raw[raw.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    # A reused pid belongs to a process that started at another time.
    return started is None or _process_start(pid) in (None, started)


def _load(path: Path) -> tuple[LocalCredential, str | None] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        cred = LocalCredential(str(data["url"]), str(data["token"]), int(data["pid"]), path)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    started = data.get("started")
    return cred, started if isinstance(started, str) else None


def write_credential(state_path: Path, url: str, token: str) -> Path | None:
    """Write this process's credential atomically, owner-only; None if a live gateway has one."""
    path = credential_path(state_path)
    found = _load(path) if path.exists() else None
    if found is not None and found[0].pid != os.getpid() and _alive(found[0].pid, found[1]):
        log.warning(
            "another gateway (pid %s) holds the local admin credential %s; the CLI will "
            "reach that one",
            found[0].pid,
            path,
        )
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "url": url,
        "token": token,
        "pid": os.getpid(),
        "started": _process_start(os.getpid()),
        "created": time.time(),
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, json.dumps(record).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def remove_credential(path: Path, token: str) -> None:
    """Remove the credential at ``path`` if it is still this gateway's."""
    found = _load(path)
    if found is not None and found[0].token == token:
        with contextlib.suppress(OSError):
            path.unlink()


def read_credential(state_path: Path) -> LocalCredential | None:
    """Return the running gateway's credential, or None when there is none or it is stale.

    Raises StateError when the file is readable by others or owned by another user: a token
    that leaked is not used.
    """
    path = credential_path(state_path)
    try:
        info = path.stat()
    except OSError:
        return None
    if info.st_uid != os.getuid() or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise StateError(
            f"the gateway's local admin credential {path} is not private to you "
            f"(owner uid {info.st_uid}, mode {stat.S_IMODE(info.st_mode):o})",
            hint=f"remove it and restart the gateway: it writes a new one with mode 600 (rm {path})",
        )
    found = _load(path)
    if found is None:
        return None
    cred, started = found
    if not _alive(cred.pid, started):
        return None  # the gateway died without cleaning up: stale
    return cred
