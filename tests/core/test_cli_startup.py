"""`llmops --help` stays fast because importing the CLI loads no heavy library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = [
    "torch",
    "sentence_transformers",
    "transformers",
    "mlflow",
    "langchain",
    "langchain_core",
    "llama_index",
    "qdrant_client",
    "ragas",
    "guardrails",
    "sklearn",
    "pandas",
    "numpy",
    "openai",
]


def test_importing_cli_loads_no_heavy_library() -> None:
    code = (
        "import sys, json, llmops.cli; "
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


@pytest.mark.parametrize("args", [["--help"], ["prompt", "--help"], ["index", "--help"]])
def test_help_runs_without_heavy_imports(args: list[str]) -> None:
    code = (
        "import sys, json\n"
        "from llmops.cli import main\n"
        f"rc = main({args!r})\n"
        f"print(json.dumps([rc, sorted(m for m in {HEAVY!r} if m in sys.modules)]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rc, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert rc == 0
    assert loaded == []


def test_version(cli) -> None:  # type: ignore[no-untyped-def]
    from llmops import __version__

    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"llmops {__version__}"


def test_unknown_command_is_a_usage_error(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("no-such-command")
    assert result.exit_code == 2
    assert "No such command" in result.stderr
