"""YAML loading with file:line:key errors, atomic writes and the state lock."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from llmops.atomic import atomic_write_json, atomic_write_text
from llmops.errors import ConfigError, StateError
from llmops.locks import file_lock
from llmops.validation import load_yaml_model


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = 0.0
    max_tokens: int | None = None


class Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    params: Inner = Inner()
    tags: list[str] = []


def _load_error(path: Path, text: str, model: type[BaseModel]) -> ConfigError:
    """Write ``text`` to ``path``, load it into ``model`` and return the ConfigError raised."""
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_yaml_model(path, model)
    return info.value


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (
            "name: a\nparams:\n  temprature: 1\n",
            3,
            "unknown key 'params.temprature' (did you mean 'temperature'?)",
        ),
        (
            "name: a\nparams:\n  max_tokens: lots\n",
            3,
            "'params.max_tokens': Input should be a valid integer",
        ),
        ("params: {}\n", None, "missing required key 'name'"),
        ("name: a\nname: b\n", 2, "duplicate key 'name'"),
        ("name: [a\n", 2, "invalid YAML"),
        ("name: a\ntags:\n  - ok\n  - {x: 1}\n", 4, "'tags.1': Input should be a valid string"),
        ("   \n", None, "empty file"),
        ("- a\n- b\n", 1, "expected a mapping"),
    ],
)
def test_errors_name_file_line_key(
    tmp_path: Path, text: str, line: int | None, fragment: str
) -> None:
    error = _load_error(tmp_path / "f.yaml", text, Outer)
    assert fragment in error.message
    assert error.file == str(tmp_path / "f.yaml")
    if line is not None:
        assert error.line == line


def test_binary_and_directory_and_bad_utf8(tmp_path: Path) -> None:
    (tmp_path / "bin.yaml").write_bytes(b"\x00\x01\x02name: a")
    with pytest.raises(ConfigError, match="binary file"):
        load_yaml_model(tmp_path / "bin.yaml", Outer)
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(ConfigError, match="directory"):
        load_yaml_model(tmp_path / "dir.yaml", Outer)
    (tmp_path / "latin.yaml").write_bytes(b"name: a\nx: caf\xe9\n")
    with pytest.raises(ConfigError, match="invalid UTF-8") as info:
        load_yaml_model(tmp_path / "latin.yaml", Outer)
    assert info.value.line == 2


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "state.json"
    atomic_write_json(target, {"b": 1, "a": [1, 2]})
    assert target.read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


def _hold_lock(
    path: str, ready: multiprocessing.synchronize.Event, done: multiprocessing.synchronize.Event
) -> None:  # noqa: UP037
    with file_lock(path):
        ready.set()
        done.wait(10)


def test_file_lock_excludes_other_processes(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    ctx = multiprocessing.get_context("fork")
    ready, done = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(str(lock), ready, done))
    proc.start()
    try:
        assert ready.wait(10)
        with (
            pytest.raises(StateError, match="locked by another process"),
            file_lock(lock, timeout=0.2),
        ):
            pass
    finally:
        done.set()
        proc.join(10)
    with file_lock(lock, timeout=1):
        assert os.path.exists(lock)


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str | None = None
    pool: str = "default"


class Gateway(BaseModel):
    model_config = ConfigDict(extra="forbid")
    routes: dict[str, Route] = {}
    fallbacks: list[Route] | None = None


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (
            "routes:\n  chat:\n    promtp: x\n",
            3,
            "unknown key 'routes.chat.promtp' (did you mean 'prompt'?)",
        ),
        (
            "fallbacks:\n  - pool: a\n  - pol: b\n",
            3,
            "unknown key 'fallbacks.1.pol' (did you mean 'pool'?)",
        ),
    ],
)
def test_did_you_mean_inside_dicts_and_lists(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    error = _load_error(tmp_path / "g.yaml", text, Gateway)
    assert fragment in error.message and error.line == line
    assert error.hint is not None and "pool, prompt" in error.hint


def test_try_lock_does_not_wait_and_locks_contend_within_a_process(tmp_path: Path) -> None:
    from llmops.locks import try_lock

    path = tmp_path / "state" / "owner.lock"
    held = try_lock(path)
    assert held is not None
    try:
        assert try_lock(path) is None  # a second lock on the same file, even in this process
        with pytest.raises(StateError, match="the index is locked by another process"):
            with file_lock(path, timeout=0.1, what="the index"):
                pass
    finally:
        held.release()
    again = try_lock(path)
    assert again is not None
    again.release()
