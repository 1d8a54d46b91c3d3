"""Golden sets: loading, content hash, and every bad record reported at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops.errors import CheckFailedError, NotFoundError
from llmops.evals.golden import load_golden_set, load_golden_sets


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_loads_records_and_hashes_content(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "g.jsonl",
        [
            json.dumps({"id": "a", "input": "q?", "reference": "r", "tags": ["t"]}),
            json.dumps(
                {
                    "id": "b",
                    "messages": [
                        {"role": "system", "content": "s"},
                        {"role": "user", "content": "hi?"},
                    ],
                    "reference_contexts": ["ctx"],
                    "labels": {"faithful": True},
                    "answerable": False,
                }
            ),
        ],
    )
    golden = load_golden_set(path)
    assert [r.id for r in golden] == ["a", "b"]
    assert golden.records[1].question == "hi?"
    assert golden.records[1].labels == {"faithful": True}
    first = golden.content_hash
    path.write_text(path.read_text() + json.dumps({"id": "c", "input": "x"}) + "\n")
    assert load_golden_set(path).content_hash != first
    assert len(load_golden_set(path).select(tags=["t"])) == 1


def test_every_bad_record_is_listed_with_its_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "bad.jsonl",
        [
            json.dumps({"id": "a", "input": "q"}),
            json.dumps({"input": "no id"}),
            "{not json",
            json.dumps({"id": "a", "input": "dup"}),
            "",
            json.dumps({"id": "c"}),
            json.dumps({"id": "d", "input": "q", "refrence": "typo"}),
            "[1, 2]",
        ],
    )
    with pytest.raises(CheckFailedError) as info:
        load_golden_set(path)
    problems = info.value.problems
    assert len(problems) == 6
    assert f"{path}:2: missing field 'id'" in problems[0]
    assert f"{path}:3: invalid JSON" in problems[1]
    assert f"{path}:4: duplicate id 'a' (first at {path}:1)" in problems[2]
    assert f"{path}:6:" in problems[3] and "exactly one of 'input' or 'messages'" in problems[3]
    assert "unknown field 'refrence'" in problems[4]
    assert f"{path}:8: expected a JSON object" in problems[5]


def test_duplicates_across_files_and_missing_file(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.jsonl", [json.dumps({"id": "x", "input": "q"})])
    b = _write(tmp_path / "b.jsonl", [json.dumps({"id": "x", "input": "q"})])
    with pytest.raises(CheckFailedError) as info:
        load_golden_sets([a, b])
    assert "duplicate id 'x'" in info.value.problems[0]
    with pytest.raises(NotFoundError, match="golden set"):
        load_golden_sets([tmp_path / "missing.jsonl"])
