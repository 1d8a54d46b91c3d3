"""`llmops index run|status|rollback|export-sample` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


def test_run_status_and_change_detection(project: Path, cli: Any) -> None:
    res = cli("index", "run", "docs", cwd=project)
    assert res.exit_code == 0, res.stderr
    assert "embedded" in res.stdout and "switched" in res.stdout
    res = cli("index", "status", "docs", "--json", cwd=project)
    doc = json.loads(res.stdout)
    assert doc["served_version"] and doc["sources_changed"] is False
    assert doc["served_for_seconds"] is not None and doc["chunks"] > 0
    (project / "docs" / "notes.txt").write_text("changed\n", encoding="utf-8")
    res = cli("index", "status", "docs", cwd=project)
    assert "changed since build: 1 changed" in res.stdout
    res = cli("index", "run", "docs", "--json", cwd=project)
    out = json.loads(res.stdout)
    assert out["switched"] and out["counts"]["embedded"] == 1
    assert out["previous_version"] == doc["served_version"]
    res = cli("index", "rollback", "docs", cwd=project)
    assert res.exit_code == 0 and f"now serving {doc['served_version']}" in res.stdout


def test_errors_are_one_line_with_hints(project: Path, cli: Any) -> None:
    res = cli("index", "run", "nope", cwd=project)
    assert res.exit_code == 2 and "no pipeline 'nope'" in res.stderr
    bad = project / "rag_pipelines" / "bad.yaml"
    bad.write_text("name: bad\nsources:\n  - path: docs\n    exclud: []\n", encoding="utf-8")
    res = cli("index", "run", "bad", cwd=project)
    assert (
        res.exit_code == 2 and f"{bad}:4" in res.stderr and "did you mean 'exclude'" in res.stderr
    )
    res = cli("index", "rollback", "docs", cwd=project)
    assert res.exit_code == 2 and "no older version" in res.stderr


def test_export_sample(tmp_path: Path, cli: Any) -> None:
    res = cli("index", "export-sample", "--to", str(tmp_path / "c"), "--json", cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["topics"] >= 70 and doc["modules"] >= 40
    text = (tmp_path / "c" / "topics" / "global.md").read_text(encoding="utf-8")
    assert text.startswith("---\ntopic: global\n") and '# The "global" statement' in text


def _served(project: Path, cli: Any) -> dict[str, Any]:
    res = cli("index", "status", "docs", "--json", cwd=project)
    assert res.exit_code == 0, res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def test_a_glob_typo_does_not_switch_the_alias(project: Path, cli: Any) -> None:
    assert cli("index", "run", "docs", cwd=project).exit_code == 0
    before = _served(project, cli)
    pipeline = project / "rag_pipelines" / "docs.yaml"
    text = pipeline.read_text("utf-8")
    pipeline.write_text(
        text.replace("  - path: docs\n", '  - path: docs\n    include: ["**/*.mdx"]\n'), "utf-8"
    )
    res = cli("index", "run", "docs", cwd=project)
    assert res.exit_code == 1, res.stdout
    first, hint = res.stderr.splitlines()[:2]
    assert first.startswith(
        f"error: the build of 'docs' found no chunks: it would replace the served index of "
        f"{before['chunks']} chunks with an empty one; the served index is unchanged; "
        f"sources.0.include under {project / 'docs'}: '**/*.mdx' matched nothing"
    )
    assert first.endswith(f"({pipeline}:4)")  # the line of the include key
    assert hint == (
        f"hint: fix the include globs in {pipeline}; if the documents were removed on purpose: "
        "llmops index run docs --allow-shrink"
    )
    after = _served(project, cli)
    assert after["served_version"] == before["served_version"] and after["chunks"] > 0
    assert after["versions"] == before["versions"]  # no manifest written, nothing built
    res = cli("index", "run", "docs", "--allow-shrink", "--json", cwd=project)
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["counts"]["chunks"] == 0 and _served(project, cli)["chunks"] == 0


def test_a_build_that_loses_most_chunks_needs_allow_shrink(project: Path, cli: Any) -> None:
    assert cli("index", "run", "docs", cwd=project).exit_code == 0
    before = _served(project, cli)
    for name in ("deploy.md", "astronomy.rst", "page.html", "faq.jsonl", "cooking/pasta.md"):
        (project / "docs" / name).unlink()  # 1 of 6 files left: far more than half the chunks
    res = cli("index", "run", "docs", cwd=project)
    assert res.exit_code == 1
    assert "more than store.max_shrink 50%" in res.stderr
    assert f"would shrink the served index from {before['chunks']} to " in res.stderr
    assert _served(project, cli)["served_version"] == before["served_version"]
    pipeline = project / "rag_pipelines" / "docs.yaml"
    pipeline.write_text(pipeline.read_text("utf-8") + "  max_shrink: 0.95\n", "utf-8")
    res = cli("index", "run", "docs", "--json", cwd=project)
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert (
        out["switched"] and out["counts"]["dropped"] == before["chunks"] - out["counts"]["chunks"]
    )


def test_a_first_build_of_nothing_is_refused(project: Path, cli: Any) -> None:
    pipeline = project / "rag_pipelines" / "docs.yaml"
    pipeline.write_text(
        pipeline.read_text("utf-8").replace(
            "  - path: docs\n", '  - path: docs\n    include: ["*.markdown", "**/*.mdx"]\n'
        ),
        "utf-8",
    )
    (project / "docs" / "guide.mdx").write_text("# Guide\n", "utf-8")
    res = cli("index", "run", "docs", cwd=project)
    assert res.exit_code == 1
    assert res.stderr.startswith(
        "error: the build of 'docs' found no chunks to index; nothing was built; "
        f"sources.0.include under {project / 'docs'}: '*.markdown' matched nothing, "
        "'**/*.mdx' matched only files no loader reads (.mdx)"
    )
    assert _served(project, cli)["served_version"] is None


def test_summary_names_skipped_files_and_defines_its_counts(project: Path, cli: Any) -> None:
    from llmops.cli.index_cmd import COUNTS

    (project / "docs" / "logo.md").write_bytes(b"\x89PNG\x00\x00 not text")
    (project / "docs" / "blank.txt").write_text("\n\n", "utf-8")
    (project / "docs" / "menu.txt").write_bytes("Crème brûlée, café au lait.\n".encode("latin-1"))
    res = cli("index", "run", "docs", cwd=project)
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    for key, meaning in COUNTS.items():  # every figure says what it counts
        assert any(line.startswith(key) and line.endswith(meaning) for line in lines), key
    assert "skipped:" in lines and "  blank.txt: empty" in lines and "  logo.md: binary" in lines
    assert "decoded (not UTF-8):" in lines and "  menu.txt: cp1252" in lines
    res = cli("index", "status", "docs", cwd=project)
    assert "skipped (not indexed):" in res.stdout and "  logo.md: binary" in res.stdout
    (project / "docs" / "notes.txt").write_text("changed\n", "utf-8")
    (project / "docs" / "deploy.md").unlink()
    res = cli("index", "status", "docs", cwd=project)
    assert "changed since build: 1 changed, 1 removed" in res.stdout
    assert "  changed: notes.txt" in res.stdout and "  removed: deploy.md" in res.stdout
    doc = json.loads(cli("index", "status", "docs", "--json", cwd=project).stdout)
    assert doc["changes"] == {"added": [], "changed": ["notes.txt"], "removed": ["deploy.md"]}
    assert doc["skipped_files"] == {"blank.txt": "empty", "logo.md": "binary"}


def test_unknown_filter_key_is_an_error_with_did_you_mean(project: Path, cli: Any) -> None:
    assert cli("index", "run", "docs", cwd=project).exit_code == 0
    res = cli("query", "docs", "pasta", "--filter", "tema=kitchen", cwd=project)
    assert res.exit_code == 2, res.stdout
    first, hint = res.stderr.splitlines()[:2]
    assert first == (
        "error: unknown filter key 'tema' (did you mean 'team'?): no chunk of the served index "
        "of 'docs' has it"
    )
    assert hint.startswith("hint: keys present: ") and "lang" in hint and "source" in hint
    res = cli("query", "docs", "pasta", "--filter", "team=kitchen", "-k", "1", cwd=project)
    assert res.exit_code == 0 and "cooking/pasta.md" in res.stdout
    res = cli("query", "docs", "pasta", "--filter", "team=nobody", cwd=project)
    assert res.exit_code == 0 and "no chunks matched" in res.stdout  # a known key, no match
    res = cli("query", "docs", "pasta", "--filter", "metadata.lnag=en", cwd=project)
    assert res.exit_code == 2 and "unknown filter key 'metadata.lnag'" in res.stderr
    assert "did you mean 'lang'?" in res.stderr


def test_query_loads_neither_torch_nor_transformers(project: Path, cli: Any) -> None:
    """`llmops query` runs on the ONNX default from the machine cache: no torch import (8-13 s).

    Nor the gateway's server, guards, evals and dashboard (the CLI only looks for a running
    gateway's credential), nor the RAG adapters: the query path imports what it uses.
    """
    import os
    import subprocess
    import sys

    assert cli("index", "run", "docs", cwd=project).exit_code == 0
    from llmops.rag.store import close_stores

    close_stores()  # the child process opens the embedded store
    heavy = ["torch", "transformers", "sentence_transformers", "langchain_core", "llama_index"]
    heavy += ["fastapi", "llmops.gateway.server", "llmops.guards", "llmops.evals"]
    heavy += ["llmops.dashboard", "llmops.rag.adapters"]
    code = (
        "import json, sys\n"
        "from llmops.cli import main\n"
        "rc = main(['query', 'docs', 'How long do I cook spaghetti?', '-k', '1', '--json'])\n"
        f"print(json.dumps([rc, sorted(m for m in {heavy!r} if m in sys.modules)]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=project,
        env=dict(os.environ),
        check=True,
    )
    lines = out.stdout.strip().splitlines()
    rc, loaded = json.loads(lines[-1])
    assert rc == 0 and loaded == []
    assert json.loads("\n".join(lines[:-1]))["chunks"][0]["source"] == "cooking/pasta.md"
