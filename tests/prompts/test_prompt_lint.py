"""Every lint rule and every bad input of the prompt format, through the real CLI entry point.

Each case breaks a project that has ``greet@1`` released, runs ``llmops prompt lint`` and checks
the exit code, the one-line problem (file, version, message) and that nothing was written.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from prompt_helpers import GREET_DRAFT, snapshot


def _edit(rel: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / rel
        text = path.read_text()
        assert old in text, (old, text)
        path.write_text(text.replace(old, new, 1))

    return apply


def _write(rel: str, data: str | bytes) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)

    return apply


def _mkdir(rel: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        (root / rel).mkdir(parents=True)

    return apply


def _remove(rel: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / rel
        shutil.rmtree(path) if path.is_dir() else path.unlink()

    return apply


# (id, breakage, expected problem line fragments: file[:line], ref, message, rule)
CASES: list[tuple[str, Callable[[Path], None], list[str]]] = [
    (
        "hash-mismatch",
        _edit("prompts/greet/1.yaml", "You are polite.", "You are rude."),
        ["prompts/greet/1.yaml:", "greet@1:", "no longer matches its hash", "[hash-mismatch]"],
    ),
    (
        "undeclared-variable",
        _edit("prompts/greet.yaml", "{{ who }}", "{{ whom }}"),
        [
            "prompts/greet.yaml:15:",
            "greet@draft:",
            "uses undeclared variable 'whom' (did you mean 'who'?)",
            "[undeclared-variable]",
        ],
    ),
    (
        "unused-variable",
        _edit("prompts/greet.yaml", "  times:\n", "  mood:\n    type: string\n  times:\n"),
        [
            "prompts/greet.yaml:7:",
            "greet@draft:",
            "variable 'mood' is declared but no template uses it",
        ],
    ),
    (
        "jinja-syntax",
        _edit("prompts/greet.yaml", "{{ times }} time(s).", "{% for x in %}"),
        ["prompts/greet.yaml:15:", "greet@draft:", "invalid Jinja syntax in 'messages.1.content'"],
    ),
    (
        "invalid-yaml",
        _edit("prompts/greet.yaml", "description: Greet someone.", "description: [unclosed"),
        ["prompts/greet.yaml:", "greet@draft:", "invalid YAML", "column", "[invalid-yaml]"],
    ),
    (
        "unknown-key",
        _edit("prompts/greet.yaml", "  temperature: 0.1", "  temprature: 0.1"),
        [
            "prompts/greet.yaml:17:",
            "greet@draft:",
            "unknown key 'params.temprature' (did you mean 'temperature'?)",
        ],
    ),
    (
        "label-missing-version",
        _edit("prompts/prompts.lock", "production: 1", "production: 7"),
        ["prompts/prompts.lock:7:", "greet@7:", "label 'production' points to missing version 7"],
    ),
    (
        "duplicate-version",
        _write("prompts/hello.yaml", GREET_DRAFT),
        ["prompts/hello.yaml:", "two files claim greet@draft: also prompts/greet.yaml"],
    ),
    (
        "duplicate-release",
        _write(
            "prompts/hello/1.yaml",
            GREET_DRAFT.replace("name: greet\n", "name: greet\nversion: 1\n"),
        ),
        ["prompts/hello/1.yaml:", "two files claim greet@1: also prompts/greet/1.yaml"],
    ),
    (
        "name-mismatch",
        _edit("prompts/greet.yaml", "name: greet", "name: greeting"),
        ["prompts/greet.yaml:1:", "greet@draft:", "name 'greeting' does not match the path"],
    ),
    (
        "version-mismatch",
        _edit("prompts/greet/1.yaml", "version: 1", "version: 2"),
        ["prompts/greet/1.yaml:2:", "greet@1:", "file says version 2 but its path says 1"],
    ),
    (
        "draft-has-version",
        _edit("prompts/greet.yaml", "name: greet\n", "name: greet\nversion: 3\n"),
        ["prompts/greet.yaml:2:", "greet@draft:", "a working draft carries no 'version'"],
    ),
    (
        "missing-file",
        _remove("prompts/greet/1.yaml"),
        ["prompts/greet/1.yaml:", "greet@1:", "recorded in prompts.lock but the file is missing"],
    ),
    (
        "not-in-lock",
        _write(
            "prompts/greet/2.yaml",
            GREET_DRAFT.replace("name: greet\n", "name: greet\nversion: 2\n"),
        ),
        ["prompts/greet/2.yaml:", "greet@2:", "released file is not recorded in prompts.lock"],
    ),
    (
        "invalid-lock",
        _edit("prompts/prompts.lock", "lock_version: 1", "lock_version: 1\nextra: true"),
        ["prompts/prompts.lock:", "unknown key 'extra'", "[invalid-lock]"],
    ),
    (
        "empty-file",
        _write("prompts/blank.yaml", ""),
        ["prompts/blank.yaml:", "blank@draft:", "empty file", "[empty-file]"],
    ),
    (
        "binary-file",
        _write("prompts/blob.yaml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
        ["prompts/blob.yaml:", "blob@draft:", "binary file", "[binary-file]"],
    ),
    (
        "directory-named-like-a-prompt",
        _mkdir("prompts/folder.yaml"),
        ["prompts/folder.yaml:", "folder@draft:", "expected a file but found a directory"],
    ),
    (
        "wrong-default-type",
        _edit("prompts/greet.yaml", "default: 1", "default: many"),
        [
            "prompts/greet.yaml:9:",
            "greet@draft:",
            "default does not match type 'integer': expected an integer, got string \"many\"",
        ],
    ),
    (
        "messages-and-template",
        _edit("prompts/greet.yaml", "params:", "template: hi\nparams:"),
        ["prompts/greet.yaml:", "give exactly one of 'messages' or 'template'"],
    ),
    (
        "unexpected-file",
        _write("prompts/greet/notes.txt", "scratch"),
        ["prompts/greet/notes.txt:", "unexpected file in a release folder", "[unexpected-file]"],
    ),
]


@pytest.mark.parametrize(("case", "breakage", "expected"), CASES, ids=[c[0] for c in CASES])
def test_lint_names_file_version_and_problem(
    cli,  # type: ignore[no-untyped-def]
    released: Path,
    case: str,
    breakage: Callable[[Path], None],
    expected: list[str],
) -> None:
    breakage(released)
    before = snapshot(released)
    result = cli("prompt", "lint", cwd=released)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("error: ") and "problem(s) in prompts/" in result.stderr
    lines = [line.strip() for line in result.stderr.splitlines() if line.startswith("  - ")]
    matching = [line for line in lines if all(frag in line for frag in expected)]
    assert matching, f"{expected} not in one problem line of:\n{result.stderr}"
    assert snapshot(released) == before


def test_lint_json_lists_problems(cli, released: Path) -> None:  # type: ignore[no-untyped-def]
    _edit("prompts/greet.yaml", "{{ who }}", "{{ whom }}")(released)
    result = cli("prompt", "lint", "--json", cwd=released)
    assert result.exit_code == 1
    import json

    report = json.loads(result.stdout)
    assert report["ok"] is False
    rules = {p["rule"] for p in report["problems"]}
    assert {"undeclared-variable", "unused-variable"} <= rules
    problem = next(p for p in report["problems"] if p["rule"] == "undeclared-variable")
    assert problem["file"] == "prompts/greet.yaml" and problem["version"] == "draft"
    assert problem["name"] == "greet" and problem["line"] == 15


def test_clean_project_lints_ok(cli, released: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("prompt", "lint", cwd=released)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("ok: 1 prompt(s), 1 released version(s)")


def test_shipped_prompts_lint_clean(cli, repo_root: Path) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(repo_root / "prompts")
    result = cli("prompt", "lint", cwd=repo_root)
    assert result.exit_code == 0, result.stderr
    assert snapshot(repo_root / "prompts") == before


# Loading a broken file for use (render/show) is a configuration error: exit 2, one line.
RENDER_CASES = [
    ("empty", _write("prompts/greet.yaml", "  \n"), "error: empty file (prompts/greet.yaml)"),
    (
        "binary",
        _write("prompts/greet.yaml", b"\x00\x01"),
        "error: binary file, expected UTF-8 text (YAML) (prompts/greet.yaml)",
    ),
    (
        "directory",
        lambda root: (_remove("prompts/greet.yaml")(root), _mkdir("prompts/greet.yaml")(root)),
        "error: expected a file but found a directory (prompts/greet.yaml)",
    ),
    (
        "wrong-default-type",
        _edit("prompts/greet.yaml", "default: 1", "default: many"),
        "error: 'variables.times.default': default does not match type 'integer'",
    ),
    (
        "undeclared",
        _edit("prompts/greet.yaml", "{{ who }}", "{{ whom }}"),
        "error: 'messages.1.content' uses undeclared variable 'whom' (did you mean 'who'?) (prompts/greet.yaml:15)",
    ),
    (
        "unknown-key",
        _edit("prompts/greet.yaml", "description:", "descripton:"),
        "error: unknown key 'descripton' (did you mean 'description'?) (prompts/greet.yaml:2)",
    ),
]


@pytest.mark.parametrize(
    ("case", "breakage", "message"), RENDER_CASES, ids=[c[0] for c in RENDER_CASES]
)
def test_render_of_broken_draft_is_one_line_error(
    cli,  # type: ignore[no-untyped-def]
    released: Path,
    case: str,
    breakage: Callable[[Path], object],
    message: str,
) -> None:
    breakage(released)
    before = snapshot(released)
    result = cli("prompt", "render", "greet@draft", "--var", "who=Ann", cwd=released)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.splitlines()[0].startswith(message), result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(released) == before
