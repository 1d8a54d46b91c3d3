"""The gateway package stays a house a newcomer can live in: small modules, short signatures."""

from __future__ import annotations

import ast
from pathlib import Path

import llmops.gateway

PACKAGE = Path(llmops.gateway.__file__).parent
MAX_LINES = 500
MAX_PARAMS = 6


def _params(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    args = node.args
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    names += [f"*{args.vararg.arg}"] if args.vararg else []
    names += [f"**{args.kwarg.arg}"] if args.kwarg else []
    return [n for n in names if n not in ("self", "cls")]


def test_no_module_over_500_lines() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py")}
    assert {n: s for n, s in sizes.items() if s > MAX_LINES} == {}


def test_no_function_with_more_than_6_parameters() -> None:
    long = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if len(_params(node)) > MAX_PARAMS:
                    long.append(f"{path.name}:{node.lineno} {node.name}{tuple(_params(node))}")
    assert long == []
