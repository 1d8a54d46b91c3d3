"""PII detection: every type, checksums, traps, reversible redaction."""

from __future__ import annotations

from typing import Any

import pytest

from llmops.guards.base import CheckContext
from llmops.guards.pii import PiiGuard, PiiOptions, find_pii, iban_ok, luhn_ok, redact, restore


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("write to anna.b+news@mail.example.org today", "email", "anna.b+news@mail.example.org"),
        ("call +44 20 7946 0958 now", "phone", "+44 20 7946 0958"),
        ("call (415) 555-0132 now", "phone", "(415) 555-0132"),
        ("ruf an: +49 151 23456789.", "phone", "+49 151 23456789"),
        ("card 4111 1111 1111 1111 exp 04/27", "card", "4111 1111 1111 1111"),
        ("amex 3782-822463-10005", "card", "3782-822463-10005"),
        ("IBAN DE89 3704 0044 0532 0130 00 please", "iban", "DE89 3704 0044 0532 0130 00"),
        ("iban GB29NWBK60161331926819", "iban", "GB29NWBK60161331926819"),
        ("SSN 123-45-6789 on file", "ssn", "123-45-6789"),
        ("from 203.0.113.7 at noon", "ip", "203.0.113.7"),
        ("from 2001:db8::8a2e:370:7334 at noon", "ip", "2001:db8::8a2e:370:7334"),
    ],
)
def test_detects_each_type(text: str, kind: str, value: str) -> None:
    spans = find_pii(text)
    assert [(s.type, s.text) for s in spans] == [(kind, value)]
    assert text[spans[0].start : spans[0].end] == value


@pytest.mark.parametrize(
    "text",
    [
        "order 4111 1111 1111 1112 shipped",  # fails Luhn
        "IBAN DE89 3704 0044 0532 0130 01 was rejected",  # fails mod 97
        "upgrade to version 1.2.3.4 today",  # version string shaped like an IPv4
        "running build v10.0.19.41 on staging",
        "error code 123-45-6789 after the update",  # SSN-shaped error code
        "SSN-like 666-12-3456 and 900-12-3456 are never issued",
        "ticket opened on 2024-05-17 at 10:30:00",
        "ISBN 978-3-16-148410-0 is out of print",
        "use user@host in the template",
    ],
)
def test_traps_are_not_pii(text: str) -> None:
    assert find_pii(text) == []


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB29 NWBK 6016 1331 9268 19") and not iban_ok("GB29 NWBK 6016 1331 9268 18")


def test_redaction_is_reversible_in_memory_only() -> None:
    text = "mail a@example.com or b@example.com, again a@example.com"
    mapping: dict[str, str] = {}
    red = redact(text, find_pii(text), mapping)
    assert red == "mail [EMAIL_1] or [EMAIL_2], again [EMAIL_1]"
    assert restore(red, mapping) == text


def test_guard_reports_spans_and_fix() -> None:
    guard = PiiGuard("pii", None, PiiOptions(types=["email"], allow=["ok@example.com"]))
    ctx = CheckContext()
    result = guard.check("to x@example.com and ok@example.com, SSN 123-45-6789", ctx)
    assert not result.passed
    assert [s.text for s in result.spans] == ["x@example.com"]
    assert result.fixed == "to [EMAIL_1] and ok@example.com, SSN 123-45-6789"
    assert ctx.scratch["pii_map"] == {"[EMAIL_1]": "x@example.com"}


def test_suite_recall_and_precision_on_heldout(pii_rows: list[dict[str, Any]]) -> None:
    tp = fn = fp = 0
    for row in pii_rows:
        if row["split"] != "heldout":
            continue
        gold = {(s["start"], s["end"], s["type"]) for s in row["spans"]}
        pred = {(s.start, s.end, s.type) for s in find_pii(row["text"])}
        tp += len(gold & pred)
        fn += len(gold - pred)
        fp += len(pred - gold)
    assert tp / (tp + fn) >= 0.99
    assert tp / (tp + fp) >= 0.97
