"""Every ``llmops`` command the docs show runs against the sample project, so the docs cannot rot.

The rule (also in docs/design.md, "Commands in the docs are tested"):

- Only fenced blocks marked ``bash``, ``sh``, ``shell`` or ``console`` are read. In them, a line
  that starts with ``llmops`` (after an optional ``$ `` prompt) is a command; a trailing ``\\``
  continues it on the next line. ``cd DIR`` moves the page's following commands into DIR,
  ``mkdir [-p] DIR...`` makes folders and ``cat > FILE <<'EOF'`` ... ``EOF`` writes FILE. Every
  other line (output, comments, other commands, here-document bodies) is not run. Shell
  operators (``&&``, ``|``, ``>``, ``&``, ...) on a command line fail the test: one command per
  line.
- Pages run top to bottom, README.md first, then docs/ in the order of mkdocs.yml's navigation,
  in one copy of the repository's sample project with one state root, so an index built by one
  page serves the later ones. Commands run in process through ``llmops.cli.main``.
- A command must exit 0, or the code its trailing ``# exits N`` comment names. A trailing
  ``# not run: REASON`` skips it; those are counted and printed, and there may be at most
  ``MAX_NOT_RUN`` of them.
"""

from __future__ import annotations

import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SHELL_LANGS = {"bash", "sh", "shell", "console"}
SAMPLE_PROJECT = ("llmops.yaml", "prompts", "rag_pipelines", "golden_sets", "evals", "serving")
SAMPLE_MODELS = "models"
MAX_NOT_RUN = 8

_FENCE = re.compile(r"^\s*```\s*([\w-]*)")
_EXITS = re.compile(r"#\s*exits\s+(\d+)\s*$")
_NOT_RUN = re.compile(r"#\s*not run:\s*(\S.*)$")
_HEREDOC = re.compile(r"<<-?\s*'?(\w+)'?\s*$")
_WRITE = re.compile(r"^cat\s+>\s*(\S+)\s+<<")
_CHAINS = {"&&", "||", "|", ";", "&", ">", ">>", "<"}


@dataclass(frozen=True)
class Step:
    """One thing a page asks for: a command, a ``cd`` or a file written by a here-document."""

    page: str
    line: int
    kind: str  # "llmops" | "cd" | "mkdir" | "write" | "error"
    args: tuple[str, ...] = ()
    expect: int = 0
    not_run: str | None = None
    content: str = ""

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def _pages() -> list[Path]:
    """README.md, then every docs page in mkdocs.yml's nav order (then any page not in it)."""
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    order: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, str) and node.endswith(".md"):
            order.append(node)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)

    walk(config["nav"])
    pages = [REPO / "README.md"] + [REPO / "docs" / name for name in order]
    pages += sorted(p for p in (REPO / "docs").glob("*.md") if p not in pages)
    return pages


def extract(text: str, page: str) -> list[Step]:
    """Return the steps of one Markdown page, by the rule in the module docstring."""
    steps: list[Step] = []
    lines = text.splitlines()
    lang: str | None = None
    i = 0
    while i < len(lines):
        raw = lines[i]
        fence = _FENCE.match(raw)
        if fence:
            lang = fence.group(1).lower() if lang is None else None
            i += 1
            continue
        if lang not in SHELL_LANGS:
            i += 1
            continue
        start = i + 1
        line = raw.strip()
        if lang == "console":
            if not line.startswith("$ "):
                i += 1
                continue
            line = line[2:].strip()
        while line.endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + " " + lines[i].strip()
        i += 1
        heredoc = _HEREDOC.search(line)
        if heredoc:  # the body is data, never commands; `cat > FILE <<EOF` writes it
            body: list[str] = []
            while i < len(lines) and lines[i].strip() != heredoc.group(1):
                body.append(lines[i])
                i += 1
            i += 1
            write = _WRITE.match(line)
            if write:
                content = "\n".join(body) + "\n"
                steps.append(Step(page, start, "write", (write.group(1),), content=content))
            continue
        if not line or line.split(maxsplit=1)[0] not in ("llmops", "cd", "mkdir"):
            continue
        tokens = shlex.split(line, comments=True)
        not_run = _NOT_RUN.search(line)
        chained = _CHAINS.intersection(tokens)
        if chained and not not_run:
            # One command per line: the test runs commands, not shell pipelines.
            steps.append(Step(page, start, "error", (f"shell operator {sorted(chained)}",)))
            continue
        exits = _EXITS.search(line)
        if tokens[0] in ("cd", "mkdir"):
            steps.append(Step(page, start, tokens[0], tuple(tokens[1:])))
        else:
            steps.append(
                Step(
                    page,
                    start,
                    "llmops",
                    tuple(tokens[1:]),
                    expect=int(exits.group(1)) if exits else 0,
                    not_run=not_run.group(1).strip() if not_run else None,
                )
            )
    return steps


PAGES = _pages()


def _page_id(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One copy of the repository's sample project and one state root, shared by every page."""
    root = tmp_path_factory.mktemp("docs-project")
    project = root / "project"
    project.mkdir()
    for name in (*SAMPLE_PROJECT, SAMPLE_MODELS):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, project / name)
    home = root / "state"
    home.mkdir()
    return project, home


def test_the_rule_reads_commands_continuations_markers_and_heredocs() -> None:
    page = "\n".join(
        [
            "```console",
            "$ llmops prompt list",
            "NAME  VERSIONS",
            "$ llmops prompt render x --var 'a=1' \\",
            '    --var "b=two words"   # exits 2',
            "```",
            "```python",
            "llmops = 1",
            "```",
            "```bash",
            "cat > t.jsonl <<'EOF'",
            '{"text": "hi"}',
            "EOF",
            "mkdir -p demo",
            "cd demo",
            "python - <<'EOF'",
            "llmops = 'not a command'",
            "EOF",
            "llmops serve   # not run: a foreground server",
            "llmops model card m > card.md",
            "curl -s localhost",
            "```",
        ]
    )
    steps = extract(page, "p.md")
    assert [(s.kind, s.args, s.expect, s.not_run, s.line) for s in steps] == [
        ("llmops", ("prompt", "list"), 0, None, 2),
        ("llmops", ("prompt", "render", "x", "--var", "a=1", "--var", "b=two words"), 2, None, 4),
        ("write", ("t.jsonl",), 0, None, 11),
        ("mkdir", ("-p", "demo"), 0, None, 14),
        ("cd", ("demo",), 0, None, 15),
        ("llmops", ("serve",), 0, "a foreground server", 19),
        ("error", ("shell operator ['>']",), 0, None, 20),
    ]
    assert steps[2].content == '{"text": "hi"}\n'


def test_few_commands_are_not_run() -> None:
    not_run = [
        f"{s.where}: llmops {' '.join(s.args)} ({s.not_run})"
        for page in PAGES
        for s in extract(page.read_text(encoding="utf-8"), _page_id(page))
        if s.not_run
    ]
    print(f"\n{len(not_run)} documented command(s) not run:\n" + "\n".join(not_run))
    assert len(not_run) <= MAX_NOT_RUN, "\n".join(not_run)


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_page_commands_run(
    page: Path,
    sample: tuple[Path, Path],
    cli: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project, home = sample
    monkeypatch.setenv("LLMOPS_HOME", str(home))
    steps = extract(page.read_text(encoding="utf-8"), _page_id(page))
    cwd = project
    failures: list[str] = []
    for step in steps:
        if step.kind == "error":
            failures.append(f"{step.where}: {step.args[0]}: write one command per line")
            continue
        if step.kind == "cd":
            cwd = (cwd / step.args[0]).resolve()
            continue
        if step.kind == "mkdir":
            for name in step.args:
                if not name.startswith("-"):
                    (cwd / name).mkdir(parents=True, exist_ok=True)
            continue
        if step.kind == "write":
            target = cwd / step.args[0]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.content, encoding="utf-8")
            continue
        if step.not_run:
            continue
        result = cli(*step.args, cwd=cwd)  # type: ignore[operator]
        if result.exit_code != step.expect:
            failures.append(
                f"{step.where}: `llmops {shlex.join(step.args)}` exited {result.exit_code}, "
                f"expected {step.expect}\n--- stdout\n{result.stdout[-2000:]}"
                f"\n--- stderr\n{result.stderr[-2000:]}"
            )
    assert not failures, "\n\n".join(failures)


def test_readme_links_resolve() -> None:
    """The README is read on GitHub, outside the MkDocs build: its relative links must resolve."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+://", target) or target.startswith("#"):
            continue
        path, _, anchor = target.partition("#")
        file = REPO / path
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md":
            slugs = {
                re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
                for h in re.findall(r"^#+ (.+)$", file.read_text(encoding="utf-8"), re.M)
            }
            if anchor not in slugs:
                broken.append(target)
    assert not broken, f"README.md links that do not resolve: {broken}"
