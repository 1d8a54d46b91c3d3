"""House checks the linters do not make: module length and parameter count.

- no module under ``src/llmops`` longer than 500 lines;
- no function or method with more than 6 parameters (``self``/``cls`` not counted). Exempt, as
  declarations rather than calls: methods of a pydantic model (a class deriving from
  ``BaseModel``/``BaseSettings``: its fields are the parameters) and typer commands (a parameter
  annotated ``typer.Context``/``typer.Option``/``typer.Argument``: each parameter is a declared
  command-line option, and typer has no way to group them).

Prints one ``path:line: message`` per offender and exits 1 when there is any.
Usage: ``python scripts/check_house.py [ROOT] [--allow FILE]`` (ROOT defaults to ``src/llmops``).

``--allow FILE`` lists known offenders being fixed elsewhere, one per line: ``path`` (its length)
or ``path:function`` (its parameters), then ``#`` and why. They are reported as allowed, not
failed; an entry that no longer offends fails the check, so the list only shrinks.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MAX_LINES = 500
MAX_PARAMS = 6
_MODEL_BASES = {"BaseModel", "BaseSettings", "RootModel"}


def _param_count(fn: ast.FunctionDef | ast.AsyncFunctionDef, in_class: bool) -> int:
    args = fn.args
    positional = [*args.posonlyargs, *args.args]
    if in_class and positional and positional[0].arg in ("self", "cls", "mcs"):
        positional = positional[1:]
    count = len(positional) + len(args.kwonlyargs)
    return count + (args.vararg is not None) + (args.kwarg is not None)


def _is_model(cls: ast.ClassDef) -> bool:
    for base in cls.bases:
        name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", None)
        if name in _MODEL_BASES:
            return True
    return False


def _is_cli_command(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A typer command: it takes ``typer.Context`` or ``typer.Option``/``typer.Argument`` values."""
    args = [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]
    return any(a.annotation is not None and "typer." in ast.unparse(a.annotation) for a in args)


def _functions(
    node: ast.AST, in_class: bool = False
) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef):
            if not _is_model(child):
                yield from _functions(child, in_class=True)
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            yield child, in_class
            yield from _functions(child, in_class=False)
        else:
            yield from _functions(child, in_class)


def check_file(path: Path, display: str) -> list[tuple[str, str]]:
    """Return ``(key, "path:line: message")`` for each offence in one Python file.

    The key is ``path`` for the module's length and ``path:function`` for a parameter count.
    """
    text = path.read_text(encoding="utf-8")
    problems: list[tuple[str, str]] = []
    lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    if lines > MAX_LINES:
        problems.append((display, f"{display}:1: module has {lines} lines (at most {MAX_LINES})"))
    tree = ast.parse(text, filename=display)
    for fn, in_class in _functions(tree):
        count = _param_count(fn, in_class)
        if count > MAX_PARAMS and not _is_cli_command(fn):
            message = (
                f"{display}:{fn.lineno}: {fn.name}() takes {count} parameters "
                f"(at most {MAX_PARAMS}; group them in a frozen dataclass)"
            )
            problems.append((f"{display}:{fn.name}", message))
    return problems


def check_tree(root: Path) -> list[tuple[str, str]]:
    """Return every offence under ``root`` (paths relative to root's parent's parent)."""
    problems: list[tuple[str, str]] = []
    for path in sorted(root.rglob("*.py")):
        problems.extend(check_file(path, str(path.relative_to(root.parent.parent))))
    return problems


def read_allow(path: Path) -> set[str]:
    """Return the keys of an allow file (comments and blank lines skipped)."""
    keys = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        key = line.split("#", 1)[0].strip()
        if key:
            keys.add(key)
    return keys


def main(argv: list[str]) -> int:
    """Check the tree; print offenders; return 0 (clean), 1 (offences) or 2 (bad usage)."""
    args = list(argv)
    allow: set[str] = set()
    if "--allow" in args:
        i = args.index("--allow")
        if i + 1 >= len(args):
            print("--allow needs a file", file=sys.stderr)
            return 2
        allow = read_allow(Path(args[i + 1]))
        del args[i : i + 2]
    root = Path(args[0]) if args else Path("src/llmops")
    if not root.is_dir():
        print(f"{root}: not a directory", file=sys.stderr)
        return 2
    problems = check_tree(root)
    failed = [message for key, message in problems if key not in allow]
    for key, message in problems:
        if key in allow:
            print(f"{message} [allowed]")
    for message in failed:
        print(message)
    stale = sorted(allow - {key for key, _ in problems})
    for key in stale:
        print(f"{key}: listed in the allow file but no longer offends: remove the line")
    if failed or stale:
        print(f"{len(failed) + len(stale)} house rule offence(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
