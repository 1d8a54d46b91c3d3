"""The behavioural suite is big enough, well-formed, split, and the corpus holds no held-out text."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from typing import Any


def test_injection_suite_shape(injection_rows: list[dict[str, Any]]) -> None:
    labels = Counter(r["label"] for r in injection_rows)
    assert labels["attack"] >= 200 and labels["benign"] >= 200
    cats = Counter(r["category"] for r in injection_rows if r["label"] == "attack")
    assert set(cats) == {"direct", "roleplay", "obfuscated", "multilingual", "indirect"}
    langs = {r["lang"] for r in injection_rows if r["category"] == "multilingual"}
    assert langs == {"fr", "de", "es", "it", "pt", "ru"}
    for split in ("train", "heldout"):
        part = [r for r in injection_rows if r["split"] == split]
        assert sum(r["label"] == "attack" for r in part) >= 100
        assert sum(r["label"] == "benign" for r in part) >= 100
    assert len({r["id"] for r in injection_rows}) == len(injection_rows)


def test_obfuscations_cover_every_technique(injection_rows: list[dict[str, Any]]) -> None:
    texts = [r["text"] for r in injection_rows if r["category"] == "obfuscated"]
    assert any("\u200b" in t or "\u2060" in t for t in texts)  # zero-width
    assert any("і" in t or "о" in t for t in texts)  # Cyrillic homoglyphs
    assert any(t.startswith("Decode this rot13") or t.startswith("rot13:") for t in texts)
    assert any("0x payload" in t or "Hex-decode" in t for t in texts)
    assert any("=" in t and len(t.split()[-1]) > 40 for t in texts)  # base64


def test_pii_suite_spans_are_exact(pii_rows: list[dict[str, Any]]) -> None:
    assert len(pii_rows) >= 100
    types = Counter(s["type"] for r in pii_rows for s in r["spans"])
    assert set(types) == {"email", "phone", "card", "iban", "ssn", "ip"}
    assert sum(r["category"] == "trap" for r in pii_rows) >= 30
    for row in pii_rows:
        for span in row["spans"]:
            assert row["text"][span["start"] : span["end"]] == span["text"]


def test_corpus_holds_only_training_texts(injection_rows: list[dict[str, Any]]) -> None:
    path = resources.files("llmops") / "_data" / "guards" / "injection_corpus.jsonl"
    corpus = {json.loads(line)["text"] for line in path.read_text().splitlines()}
    heldout = {r["text"] for r in injection_rows if r["split"] == "heldout"}
    assert corpus and not corpus & heldout
    calibration = json.loads(
        (resources.files("llmops") / "_data" / "guards" / "injection_calibration.json").read_text()
    )
    assert calibration["fitted_on"] == "train split"
    assert 0.0 < calibration["threshold"] < 1.0
