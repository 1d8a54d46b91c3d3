"""The machine-wide cache: artefacts derived from installed packages (converted models, exports).

The state root (``.llmops/`` or ``LLMOPS_HOME``) belongs to one project; what is derived only from
an installed package (a GGUF turned into a served model folder, an ONNX export of the embedding
model) is the same for every project on the machine, so it is made once and kept here:
``$LLMOPS_CACHE_DIR``, else ``$XDG_CACHE_HOME/llmops``, else ``~/.cache/llmops``.

Entries are folders named by a content key and published atomically: built in a temporary sibling,
marked complete, then renamed into place under a lock. A half-written entry (a crash, a kill -9)
is never used: it has no completion mark and is rebuilt.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

__all__ = ["cached_dir", "machine_cache_dir"]

_COMPLETE = ".complete"


def machine_cache_dir() -> Path:
    """Return the machine-wide cache folder (not created)."""
    given = os.environ.get("LLMOPS_CACHE_DIR")
    if given:
        return Path(given).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "llmops"


def cached_dir(
    kind: str, key: str, build: Callable[[Path], None], *, timeout: float = 1800.0
) -> Path:
    """Return ``<cache>/<kind>/<key>``, calling ``build(folder)`` to fill it on first use.

    ``build`` receives an empty temporary folder and must write everything into it; the folder is
    published only when ``build`` returns. Concurrent callers wait on a lock (up to ``timeout``
    seconds) and the loser reuses the winner's entry.
    """
    target = machine_cache_dir() / kind / key
    if (target / _COMPLETE).is_file():
        return target  # the common path imports nothing (it may run on a preload thread)
    from llmops.locks import file_lock

    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target.parent / f".{key}.lock", timeout=timeout, what=f"{kind} cache entry"):
        if (target / _COMPLETE).is_file():
            return target
        if target.exists():  # left by a crash before the completion mark: never used
            shutil.rmtree(target)
        tmp = target.parent / f".{key}.tmp{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        try:
            build(tmp)
            (tmp / _COMPLETE).write_text("ok\n", encoding="utf-8")
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(tmp)
            raise
    return target
