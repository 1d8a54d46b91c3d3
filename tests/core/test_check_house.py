"""scripts/check_house.py: module length and parameter counts, checked on planted files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_house.py"

CLEAN = """
from pydantic import BaseModel
import typer


def six(a, b, c, d, e, f):
    return a


class Thing:
    def method(self, a, b, c, d, e, f):
        return a

    @classmethod
    def build(cls, a, b, c, d, e, f):
        return cls()


class Settings(BaseModel):
    def fine(self, a, b, c, d, e, f, g):  # pydantic models are exempt
        return a


def command(ctx: typer.Context, a, b, c, d, e, f, g):  # a typer command: declared options
    return a
"""

OFFENDERS = """
def seven(a, b, c, d, e, f, g):
    return a


class Thing:
    async def method(self, a, b, c, d, e, *rest, key=None):
        return a


def outer():
    def inner(a, b, c, d, e, f, **kw):
        return a
    return inner
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60
    )


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "src" / "pkg"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_a_clean_tree_passes(tmp_path: Path) -> None:
    proc = _run(str(_tree(tmp_path, {"ok.py": CLEAN})))
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout == ""


def test_planted_offenders_are_named_with_path_and_line(tmp_path: Path) -> None:
    long_module = "x = 1\n" * 501
    root = _tree(tmp_path, {"bad.py": OFFENDERS, "sub/long.py": long_module, "ok.py": CLEAN})
    proc = _run(str(root))
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        "src/pkg/bad.py:2: seven() takes 7 parameters "
        "(at most 6; group them in a frozen dataclass)",
        "src/pkg/bad.py:7: method() takes 7 parameters "
        "(at most 6; group them in a frozen dataclass)",
        "src/pkg/bad.py:12: inner() takes 7 parameters "
        "(at most 6; group them in a frozen dataclass)",
        "src/pkg/sub/long.py:1: module has 501 lines (at most 500)",
    ]


def test_a_500_line_module_is_fine(tmp_path: Path) -> None:
    assert _run(str(_tree(tmp_path, {"edge.py": "x = 1\n" * 500}))).returncode == 0


def test_the_allow_list_only_shrinks(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"bad.py": OFFENDERS})
    allow = tmp_path / "allow.txt"
    allow.write_text(
        "# known\nsrc/pkg/bad.py:seven  # elsewhere\nsrc/pkg/bad.py:method\nsrc/pkg/bad.py:inner\n",
        encoding="utf-8",
    )
    proc = _run(str(root), "--allow", str(allow))
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.count("[allowed]") == 3
    (root / "bad.py").write_text(OFFENDERS.replace(", g):", "):"), encoding="utf-8")
    proc = _run(str(root), "--allow", str(allow))
    assert proc.returncode == 1
    assert "src/pkg/bad.py:seven: listed in the allow file but no longer offends" in proc.stdout


def test_the_package_passes_with_its_allow_list() -> None:
    repo = SCRIPT.parents[1]
    proc = _run(str(repo / "src" / "llmops"), "--allow", str(repo / "scripts" / "house_allow.txt"))
    assert proc.returncode == 0, proc.stdout
