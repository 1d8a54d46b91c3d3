"""Phone numbers written the way people of each region write them, and digit traps (issue 15).

Each region lists national-format numbers (trunk prefix, local grouping) and a few international
ones; the guard under test is configured with that region as its hint (``options.regions``), as
a deployment in that country would be. ``TRAPS`` are digit strings that are not phone numbers:
dates, amounts, order and ticket numbers, postal codes, version strings, card and IBAN look-alikes.
``rows()`` builds the annotated set used by tests/guards/test_guards_pii_regions.py and
benchmarks/bench_guards.py.
"""

from __future__ import annotations

from typing import Any

NATIONAL: dict[str, list[str]] = {
    "GB": ["020 7946 0958", "07700 900123", "0161 496 0750", "(0131) 496 0321", "01632 960 444"],
    "DE": ["030 12345678", "0151 23456789", "(089) 1234567", "040 / 3456 789", "0171 2345678"],
    "FR": ["01 23 45 67 89", "06 12 34 56 78", "04.91.23.45.67", "07 81 23 45 67"],
    "ES": ["912 345 678", "612 34 56 78", "93 123 45 67", "699 123 456"],
    "IT": ["06 6982 1234", "347 123 4567", "02 1234 5678", "333 987 6543"],
    "NL": ["020 123 4567", "06 12345678", "010-1234567", "06-23456789"],
    "JP": ["03-1234-5678", "090-1234-5678", "06-6123-4567", "080 2345 6789"],
    "AU": ["(02) 9876 5432", "0412 345 678", "03 9123 4567", "0423 456 789"],
    "BR": ["(11) 91234-5678", "(21) 2345-6789", "(31) 98765-4321", "11 3456-7890"],
    "IN": ["098765 43210", "022 2345 6789", "080 4123 4567", "91234 56789"],
    "CH": ["044 668 18 00", "079 123 45 67", "031 123 45 67", "078 765 43 21"],
    "SE": ["08-123 456 78", "070-123 45 67", "031-12 34 56", "073 456 78 90"],
    "MX": ["55 1234 5678", "33 1234 5678", "81 8123 4567"],
    "US": ["(415) 555-0134", "212-555-0187", "617.555.0144", "1-800-555-0199"],
}

INTERNATIONAL: list[str] = [
    "+44 20 7946 0958", "+49 30 12345678", "+33 1 23 45 67 89", "+81 3-1234-5678",
    "+61 2 9876 5432", "+55 11 91234-5678", "+91 98765 43210", "0041 44 668 18 00",
]  # fmt: skip

TEMPLATES = [
    "Call me on {} after six.",
    "Our office number is {}, ask for Jo.",
    "Kontakt/contact: {}",
]

TRAPS: list[str] = [
    "The invoice total was 1 234 567,89 EUR, due on 2024-03-15.",
    "Order number 020 7946 0958 has shipped.",
    "Ticket #0151 23456789 was closed yesterday.",
    "Version 10.2.3.4567 fixed the login bug.",
    "Postal codes 75008 and 10115 are in the sample.",
    "The meeting is on 12.03.2025 at 14:30.",
    "Reference: 2023 1234 5678 (internal).",
    "ISBN 978-3-16-148410-0 is the second edition.",
    "Error code 0800 1234 appears when the disk is full.",
    "The population grew from 8 123 456 to 8 234 567.",
    "Build 20240315.1 passed all 1234 tests.",
    "Card-like but invalid: 4111 1111 1111 1112.",
    "IBAN with a bad checksum: GB82 WEST 1234 5698 7654 33.",
    "Coordinates 48.858844, 2.294351 mark the tower.",
    "Serial number 0412 345 678 is on the back of the device.",
]


def rows() -> list[dict[str, Any]]:
    """Return the annotated texts: {text, region, spans: [{start, end, type}], kind}."""
    out: list[dict[str, Any]] = []
    for region, numbers in NATIONAL.items():
        for i, number in enumerate(numbers):
            text = TEMPLATES[i % len(TEMPLATES)].format(number)
            start = text.index(number)
            span = {"start": start, "end": start + len(number), "type": "phone"}
            out.append({"text": text, "region": region, "spans": [span], "kind": "national"})
    for i, number in enumerate(INTERNATIONAL):
        text = TEMPLATES[i % len(TEMPLATES)].format(number)
        start = text.index(number)
        span = {"start": start, "end": start + len(number), "type": "phone"}
        out.append({"text": text, "region": "US", "spans": [span], "kind": "international"})
    for region in sorted(NATIONAL):
        for text in TRAPS:
            out.append({"text": text, "region": region, "spans": [], "kind": "trap"})
    return out
