"""`llmops prompt list | show | render | diff | schema` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prompt_helpers import snapshot

CONTEXTS = '[{"id": "d1", "text": "Alpha.", "source": "a.md"}]'


def test_list_json_and_table(cli, shipped: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("prompt", "list", "--json", cwd=shipped)
    assert result.exit_code == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {
        "rag-answer",
        "query-rewrite",
        "judge-faithfulness",
        "judge-rag",
        "judge-relevance",
    }
    assert rows["rag-answer"]["versions"] == [1, 2]
    assert rows["rag-answer"]["labels"] == {"production": 1, "staging": 2}
    assert rows["rag-answer"]["draft"] == "unchanged"
    # the judge rubrics' v2 (structured outputs) is in production; the others' v1
    assert {name: row["labels"].get("production") for name, row in rows.items()} == {
        "rag-answer": 1,
        "query-rewrite": 1,
        "judge-faithfulness": 2,
        "judge-rag": 2,
        "judge-relevance": 2,
    }
    table = cli("prompt", "list", cwd=shipped)
    assert table.exit_code == 0
    assert "rag-answer" in table.stdout and "production=1, staging=2" in table.stdout


def test_draft_state_tracks_edits(cli, released: Path) -> None:  # type: ignore[no-untyped-def]
    draft = released / "prompts" / "greet.yaml"
    draft.write_text(draft.read_text().replace("polite", "terse"))
    (released / "prompts" / "fresh.yaml").write_text("name: fresh\ntemplate: hi\n")
    rows = {r["name"]: r for r in json.loads(cli("prompt", "list", "--json", cwd=released).stdout)}
    assert rows["greet"]["draft"] == "changed" and rows["fresh"]["draft"] == "new"


def test_show_json(cli, shipped: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("prompt", "show", "rag-answer@staging", "--json", cwd=shipped)
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["ref"] == "rag-answer@2" and shown["file"] == "prompts/rag-answer/2.yaml"
    assert shown["content_hash"].startswith("sha256:")
    assert shown["prompt"]["variables"]["max_sentences"]["default"] == 4
    text = cli("prompt", "show", "rag-answer", cwd=shipped)
    assert text.stdout.startswith("rag-answer@1  sha256:")
    assert "question: string, required" in text.stdout
    assert "\nlabels: production\n" in text.stdout


def test_render_with_vars_and_json(cli, shipped: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli(
        "prompt", "render", "rag-answer@2", "--var", "question=What?", "--var", f"contexts={CONTEXTS}",
        "--var", "max_sentences=2", "--json", cwd=shipped,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["lineage"] == {
        "name": "rag-answer",
        "version": "2",
        "content_hash": data["lineage"]["content_hash"],
    }
    assert "at most 2 sentences" in data["messages"][0]["content"]
    assert "[d1] (source: a.md)\nAlpha." in data["messages"][1]["content"]
    assert data["params"]["max_tokens"] == 512


def test_render_vars_file_and_override(cli, shipped: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps({"question": "From file?", "contexts": json.loads(CONTEXTS)}))
    result = cli(
        "prompt", "render", "rag-answer", "--vars-file", str(vars_file), "--var", "question=Flag?",
        cwd=shipped,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "Question: Flag?" in result.stdout and "[d1]" in result.stdout
    assert "--- system ---" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--var", f"contexts={CONTEXTS}"],
            "error: missing required variable 'question' for rag-answer@2",
        ),
        (
            ["--var", "question=q", "--var", "contexts=[1,"],
            "error: variable 'contexts' must be array: cannot read '[1,'",
        ),
        (
            ["--var", "question=q", "--var", 'contexts={"a": 1}'],
            "error: variable 'contexts': expected an array, got object",
        ),
        (
            ["--var", "question=q", "--var", f"contexts={CONTEXTS}", "--var", "max_sentences=two"],
            "error: variable 'max_sentences' must be integer: cannot read 'two'",
        ),
        (
            ["--var", "question=q", "--var", f"contexts={CONTEXTS}", "--var", "topic=x"],
            "error: rag-answer@2 has no variable 'topic'",
        ),
        (["--var", "question"], "error: --var expects NAME=VALUE, got 'question'"),
    ],
    ids=["missing", "bad-json", "wrong-type", "bad-int", "unknown", "no-equals"],
)
def test_render_bad_vars(cli, shipped: Path, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(shipped)
    result = cli("prompt", "render", "rag-answer@staging", *args, cwd=shipped)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.splitlines()[0].startswith(message), result.stderr
    assert result.stdout == ""
    assert snapshot(shipped) == before


def test_render_unknown_ref(cli, shipped: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("prompt", "render", "rag-anser", cwd=shipped)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0] == "error: no prompt named 'rag-anser' (did you mean 'rag-answer'?)"
    assert lines[1].startswith(
        "hint: prompts in prompts: judge-faithfulness, judge-rag, judge-relevance"
    )


def test_diff_shows_template_and_param_changes(cli, released: Path) -> None:  # type: ignore[no-untyped-def]
    draft = released / "prompts" / "greet.yaml"
    draft.write_text(
        draft.read_text()
        .replace("temperature: 0.1", "temperature: 0.3\n  max_tokens: 50")
        .replace("Say hello", "Wave")
    )
    result = cli("prompt", "diff", "greet@1", "greet@draft", cwd=released)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.startswith("--- greet@1\n+++ greet@draft\n")
    assert "~ params.temperature: 0.1 -> 0.3" in out
    assert "+ params.max_tokens: 50" in out
    assert "    -Say hello to {{ who }} {{ times }} time(s)." in out
    assert "    +Wave to {{ who }} {{ times }} time(s)." in out
    data = json.loads(
        cli("prompt", "diff", "greet@1", "greet@draft", "--json", cwd=released).stdout
    )
    keys = {c["key"]: c for c in data["changes"]}
    assert set(keys) == {"messages[1].content", "params.temperature", "params.max_tokens"}
    assert keys["params.temperature"] == {
        "key": "params.temperature", "kind": "changed", "before": 0.1, "after": 0.3, "diff": None,
    }  # fmt: skip


def test_diff_of_shipped_versions_and_identity(cli, shipped: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("prompt", "diff", "rag-answer@production", "rag-answer@staging", cwd=shipped)
    assert result.exit_code == 0
    assert "+ variables.max_sentences:" in result.stdout
    assert "+- Be concise: at most {{ max_sentences }} sentences." in result.stdout
    same = cli("prompt", "diff", "rag-answer@2", "rag-answer@draft", cwd=shipped)
    assert "(no changes: same content hash)" in same.stdout


def test_schema_command_prints_shipped_schema(cli, repo_root: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("prompt", "schema")
    assert result.exit_code == 0
    shipped = json.loads((repo_root / "src/llmops/schemas/prompt.schema.json").read_text())
    assert json.loads(result.stdout) == shipped
