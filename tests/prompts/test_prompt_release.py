"""Releasing and labelling: immutable snapshots, an atomic lock, refusals that write nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prompt_helpers import GREET_DRAFT, snapshot

from llmops.prompts import load_registry


def test_release_snapshots_draft_and_records_hash(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    (project / "prompts" / "greet.yaml").write_text(GREET_DRAFT)
    result = cli("prompt", "release", "greet", "-m", "first", cwd=project)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("released greet@1 (sha256:")
    released = (project / "prompts" / "greet" / "1.yaml").read_text()
    # byte-identical to the draft apart from the recorded version
    assert released == GREET_DRAFT.replace("name: greet\n", "name: greet\nversion: 1\n")
    lock = yaml.safe_load((project / "prompts" / "prompts.lock").read_text())
    entry = lock["prompts"]["greet"]["versions"][1]
    registry = load_registry(project)
    assert entry["hash"] == registry.get("greet@1").content_hash
    assert entry["hash"] == registry.get("greet@draft").content_hash
    assert entry["note"] == "first" and entry["released_at"].endswith("Z")
    assert cli("prompt", "lint", cwd=project).exit_code == 0


def test_second_release_numbers_up_and_keeps_old(cli, released: Path) -> None:  # type: ignore[no-untyped-def]
    draft = released / "prompts" / "greet.yaml"
    draft.write_text(draft.read_text().replace("polite", "very polite"))
    result = cli("prompt", "release", "greet", "--json", cwd=released)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["version"] == 2
    registry = load_registry(released)
    assert "very polite" in registry.get("greet@2").render(who="A").messages[0]["content"]
    assert registry.get("greet@1").render(who="A").messages[0]["content"] == "You are polite."
    assert registry.get("greet").version == 1  # production label still on 1
    assert registry.get("greet@latest").version == 2


def test_unchanged_draft_is_not_released_again(cli, released: Path) -> None:  # type: ignore[no-untyped-def]
    # comments and formatting are not content
    draft = released / "prompts" / "greet.yaml"
    draft.write_text("# a comment\n" + draft.read_text())
    before = snapshot(released)
    result = cli("prompt", "release", "greet", cwd=released)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "error: nothing to release: the draft of 'greet' is identical to 'greet@1'"
    )
    assert snapshot(released) == before


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("{{ who }}", "{{ whom }}", "uses undeclared variable 'whom'"),
        ("{{ times }} time(s).", "{% if %}", "invalid Jinja syntax"),
        ("temperature: 0.1", "temperature: 9", "less than or equal to 2"),
    ],
    ids=["undeclared", "jinja", "bad-param"],
)
def test_release_refused_on_lint_errors(
    cli, released: Path, old: str, new: str, problem: str
) -> None:  # type: ignore[no-untyped-def]
    draft = released / "prompts" / "greet.yaml"
    draft.write_text(draft.read_text().replace(old, new))
    before = snapshot(released)
    result = cli("prompt", "release", "greet", cwd=released)
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: refusing to release 'greet': ") and "lint problem(s)" in first
    assert problem in result.stderr and "prompts/greet.yaml" in result.stderr
    assert snapshot(released) == before  # lock untouched, no 2.yaml


def test_release_of_unknown_prompt(cli, released: Path) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(released)
    result = cli("prompt", "release", "gret", cwd=released)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == "error: no prompt named 'gret' (did you mean 'greet'?)"
    assert snapshot(released) == before


def test_label_moves_and_reports_previous(cli, released: Path) -> None:  # type: ignore[no-untyped-def]
    draft = released / "prompts" / "greet.yaml"
    draft.write_text(draft.read_text().replace("polite", "kind"))
    assert cli("prompt", "release", "greet", cwd=released).exit_code == 0
    result = cli("prompt", "label", "greet@2", "production", cwd=released)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "greet@production -> 2 (was 1)"
    assert cli("prompt", "label", "greet@1", "staging", "--new", cwd=released).exit_code == 0
    registry = load_registry(released)
    assert registry.get("greet").version == 2
    assert registry.get("greet@staging").version == 1
    assert registry.read_lock().prompts["greet"].labels == {"production": 2, "staging": 1}


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        (
            "label",
            ("greet@draft", "production"),
            "error: cannot label 'greet@draft': labels point at released versions, not the working draft",
        ),
        ("label", ("greet@1", "latest"), "error: invalid label 'latest'"),
        ("label", ("greet@1", "3"), "error: invalid label '3'"),
        ("label", ("greet@1", "Prod!"), "error: invalid label 'Prod!'"),
        ("label", ("greet@9", "staging"), "error: prompt 'greet' has no version 9"),
        ("label", ("nope@1", "staging"), "error: no prompt named 'nope'"),
        ("unlabel", ("greet", "stagin"), "error: prompt 'greet' has no label 'stagin'"),
        (
            "unlabel",
            ("greet", "productin"),
            "error: prompt 'greet' has no label 'productin' (did you mean 'production'?)",
        ),
        (
            "unlabel",
            ("gret", "production"),
            "error: no prompt named 'gret' (did you mean 'greet'?)",
        ),
        (
            "unlabel",
            ("greet@1", "production"),
            "error: unlabel takes a prompt name and a label, not a reference: 'greet@1'",
        ),
        ("unlabel", ("greet", "latest"), "error: invalid label 'latest'"),
    ],
    ids=[
        "label-draft",
        "label-reserved",
        "label-numeric",
        "label-bad-chars",
        "label-missing-version",
        "label-missing-prompt",
        "unlabel-missing-label",
        "unlabel-typo",
        "unlabel-missing-prompt",
        "unlabel-reference",
        "unlabel-reserved",
    ],
)
def test_label_and_unlabel_refusals_write_nothing(
    cli, released: Path, command: str, args: tuple[str, str], message: str
) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(released)
    result = cli("prompt", command, *args, cwd=released)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.splitlines()[0] == message
    assert snapshot(released) == before


def test_label_on_tampered_release_is_refused(cli, released: Path) -> None:  # type: ignore[no-untyped-def]
    path = released / "prompts" / "greet" / "1.yaml"
    path.write_text(path.read_text().replace("polite", "rude"))
    before = snapshot(released)
    result = cli("prompt", "label", "greet@1", "staging", "--new", cwd=released)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "error: 'greet@1' no longer matches its hash in prompts.lock (released versions are "
        "immutable) (prompts/greet/1.yaml)"
    )
    assert snapshot(released) == before


@pytest.mark.parametrize("homes", ["one state root", "a state root each"])
def test_concurrent_releases_one_wins(released: Path, homes: str, tmp_path: Path) -> None:
    draft = released / "prompts" / "greet.yaml"
    draft.write_text(draft.read_text().replace("polite", "cheerful"))

    def env(i: int) -> dict[str, str]:
        home = os.environ["LLMOPS_HOME"] if homes == "one state root" else str(tmp_path / f"h{i}")
        return {**os.environ, "PYTHONWARNINGS": "ignore", "LLMOPS_HOME": home}

    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "llmops", "prompt", "release", "greet"],
            cwd=released,
            env=env(i),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    outcomes = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0, 2, 2, 2], outcomes
    losers = [err for code, _, err in outcomes if code == 2]
    assert all("nothing to release" in err for err in losers), losers
    registry = load_registry(released)
    lock = registry.read_lock()  # parses: the lock stayed valid
    assert sorted(lock.prompts["greet"].versions) == [1, 2]
    assert sorted(p.name for p in (released / "prompts" / "greet").iterdir()) == [
        "1.yaml",
        "2.yaml",
    ]
    assert registry.lint() == []


def _replace_draft(root: Path, data: bytes | None) -> None:
    draft = root / "prompts" / "greet.yaml"
    draft.unlink()
    if data is None:
        draft.mkdir()
    else:
        draft.write_bytes(data)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty file [empty-file]"),
        (b"\x00\x01\x02binary", "binary file, expected UTF-8 text (YAML) [binary-file]"),
        (None, "expected a file but found a directory [not-a-file]"),
        (
            GREET_DRAFT.replace("default: 1", "default: lots").encode(),
            "default does not match type 'integer'",
        ),
        (b"name: greet\ntemplate: [oops\n", "invalid YAML"),
    ],
    ids=["empty", "binary", "directory", "wrong-default-type", "invalid-yaml"],
)
def test_release_refuses_bad_files(cli, released: Path, data: bytes | None, problem: str) -> None:  # type: ignore[no-untyped-def]
    _replace_draft(released, data)
    before = snapshot(released)
    result = cli("prompt", "release", "greet", cwd=released)
    assert result.exit_code == 1, result.stderr
    assert result.stderr.splitlines()[0] == "error: refusing to release 'greet': 1 lint problem(s)"
    assert "prompts/greet.yaml" in result.stderr and "greet@draft" in result.stderr
    assert problem in result.stderr
    assert snapshot(released) == before


def test_a_label_not_in_use_needs_new(cli, released: Path) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(released)
    result = cli("prompt", "label", "greet@1", "prodution", cwd=released)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: label 'prodution' is not in use yet (did you mean 'production'?)",
        "hint: labels in use: production; to create 'prodution': "
        "llmops prompt label greet@1 prodution --new",
    ]
    assert snapshot(released) == before  # nothing written
    result = cli("prompt", "label", "greet@1", "canary", "--new", cwd=released)
    assert result.exit_code == 0 and result.stdout.strip() == "greet@canary -> 1"
    # once in use by any prompt of the project, the label needs no --new
    (released / "prompts" / "other.yaml").write_text(
        GREET_DRAFT.replace("name: greet", "name: other")
    )
    assert cli("prompt", "release", "other", cwd=released).exit_code == 0
    assert cli("prompt", "label", "other@1", "canary", cwd=released).exit_code == 0
    labels = {n: e.labels for n, e in load_registry(released).read_lock().prompts.items()}
    assert labels == {"greet": {"canary": 1, "production": 1}, "other": {"canary": 1}}


def test_unlabel_removes_a_label(cli, released: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("prompt", "label", "greet@1", "staging", "--new", cwd=released).exit_code == 0
    result = cli("prompt", "unlabel", "greet", "staging", cwd=released)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "removed greet@staging (was 1); greet now resolves to version 1"
    registry = load_registry(released)
    assert registry.read_lock().prompts["greet"].labels == {"production": 1}
    result = cli("prompt", "unlabel", "greet", "production", "--json", cwd=released)
    assert json.loads(result.stdout) == {
        "name": "greet", "label": "production", "previous": 1, "bare_resolves_to": 1
    }  # fmt: skip
    assert load_registry(released).get("greet").version == 1  # the latest release now
    assert cli("prompt", "lint", cwd=released).exit_code == 0
