"""The behavioural suite is big enough and well-formed, and the shipped training texts match it."""

from __future__ import annotations

from collections import Counter
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


def test_project_texts_are_shipped_as_their_sources(injection_rows: list[dict[str, Any]]) -> None:
    """The packed training texts hold the suite and issue 15's texts verbatim (rebuild if not)."""
    import sys
    from pathlib import Path

    from llmops.guards.sources import load_shipped

    shipped = load_shipped()
    first = {r.text for r in shipped if r.source == "llmops-2026-11"}
    assert first == {r["text"] for r in injection_rows}
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "guards"))
    import issue15

    written = {t for group in (issue15.ATTACKS, issue15.BENIGN) for v in group.values() for t in v}
    assert {r.text for r in shipped if r.source == "llmops-issue15"} == written
    assert not any("garak" in r.source or "garak" in r.id for r in shipped)
