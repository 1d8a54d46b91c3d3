"""Inter-process file locks (the ``filelock`` package), with a StateError naming the holder.

``file_lock(path)`` holds an exclusive lock on ``path`` for a ``with`` block (threads of one
process exclude each other too: every call opens its own lock). After ``timeout`` seconds it
raises ``StateError`` naming the path. ``try_lock(path)`` takes the lock without waiting and
returns the held lock (release it with ``.release()``), or None when another process holds it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from llmops.errors import StateError

if TYPE_CHECKING:
    from filelock import FileLock

__all__ = ["file_lock", "try_lock"]


def _lock(path: Path) -> FileLock:
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    # A fresh, non-thread-local lock per call: two callers in one process contend exactly as two
    # processes would (the lock is on the open file, not on the thread).
    return FileLock(path, thread_local=False)


@contextlib.contextmanager
def file_lock(path: str | Path, *, timeout: float = 30.0, what: str = "state") -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created if missing) for the block.

    Waits up to ``timeout`` seconds, then raises StateError naming the path and ``what``.
    """
    from filelock import Timeout

    path = Path(path)
    lock = _lock(path)
    try:
        lock.acquire(timeout=timeout, poll_interval=0.05)
    except Timeout:
        raise StateError(
            f"{what} is locked by another process",
            file=path,
            hint="wait for the other llmops command to finish, then retry",
        ) from None
    try:
        yield
    finally:
        lock.release()


def try_lock(path: str | Path) -> FileLock | None:
    """Take the lock on ``path`` without waiting; return it (call ``.release()``) or None."""
    from filelock import Timeout

    lock = _lock(Path(path))
    try:
        lock.acquire(blocking=False)
    except Timeout:
        return None
    return lock
