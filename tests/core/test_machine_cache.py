"""The machine-wide cache publishes whole entries only, once per key."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops.machine_cache import cached_dir, machine_cache_dir


def test_cache_dir_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLMOPS_CACHE_DIR", str(tmp_path / "c"))
    assert machine_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("LLMOPS_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert machine_cache_dir() == tmp_path / "xdg" / "llmops"


def test_entry_built_once_and_reused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLMOPS_CACHE_DIR", str(tmp_path))
    calls: list[Path] = []

    def build(folder: Path) -> None:
        calls.append(folder)
        (folder / "weights.bin").write_bytes(b"w")

    first = cached_dir("models", "abc", build)
    second = cached_dir("models", "abc", build)
    assert first == second == tmp_path / "models" / "abc"
    assert (first / "weights.bin").read_bytes() == b"w"
    assert len(calls) == 1 and calls[0] != first


def test_failed_build_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLMOPS_CACHE_DIR", str(tmp_path))

    def broken(folder: Path) -> None:
        (folder / "half.bin").write_bytes(b"h")
        raise RuntimeError("killed mid-build")

    with pytest.raises(RuntimeError):
        cached_dir("models", "k", broken)
    assert not (tmp_path / "models" / "k").exists()
    assert [p.name for p in (tmp_path / "models").iterdir() if not p.name.endswith(".lock")] == []


def test_incomplete_entry_is_rebuilt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLMOPS_CACHE_DIR", str(tmp_path))
    stale = tmp_path / "models" / "k"
    stale.mkdir(parents=True)
    (stale / "half.bin").write_bytes(b"h")  # a crash before the completion mark

    def build(folder: Path) -> None:
        (folder / "whole.bin").write_bytes(b"w")

    entry = cached_dir("models", "k", build)
    assert sorted(p.name for p in entry.iterdir()) == [".complete", "whole.bin"]
