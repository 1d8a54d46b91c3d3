"""Build the guard behavioural suite: injection.jsonl and pii.jsonl.

Run ``python tests/data/guards/make_data.py`` after editing the source lists. ``injection.jsonl``
is the ``llmops-2026-11`` source of the injection classifier (``llmops.guards.sources``); its
``split`` field is historical: the classifier is evaluated leave-one-source-out, so this whole
source is held out when it is evaluated. Then rebuild the shipped texts and the model
(``python -m llmops.guards.train extract`` and ``fit``).
"""

from __future__ import annotations

import base64
import codecs
import json
import random
import string
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from attacks_en import DIRECT, INDIRECT, ROLEPLAY  # noqa: E402
from benign_en import (  # noqa: E402
    DOCUMENTS,
    ENCODING,
    GENERAL,
    INSTRUCTIONS,
    SECURITY,
    SYSTEM_ADMIN,
)
from benign_en import ROLEPLAY as BENIGN_ROLEPLAY  # noqa: E402
from multilingual import ATTACKS, BENIGN  # noqa: E402

ROOT = HERE.parents[2]


def split_of(index: int) -> str:
    return "heldout" if index % 2 else "train"


# -- obfuscations --------------------------------------------------------------------------
_CYR = {"a": "а", "e": "е", "o": "о", "c": "с", "p": "р", "i": "і", "x": "х", "y": "у"}
_LEET = {"a": "4", "e": "3", "o": "0", "i": "1", "s": "5", "t": "7"}


def leet(text: str, rng: random.Random) -> str:
    return "".join(_LEET.get(ch.lower(), ch) if rng.random() < 0.7 else ch for ch in text)


def homoglyph(text: str, rng: random.Random) -> str:
    return "".join(_CYR.get(ch, ch) if rng.random() < 0.6 else ch for ch in text)


def zero_width(text: str, rng: random.Random) -> str:
    marks = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
    return "".join(ch + (rng.choice(marks) if ch.isalpha() else "") for ch in text)


def spaced(text: str, rng: random.Random) -> str:
    sep = rng.choice([" ", ".", "-", "_", " . "])
    words = text.split(" ")
    head = [sep.join(w) for w in words[:6]]
    return "  ".join(head) + " " + " ".join(words[6:])


def b64(text: str, rng: random.Random) -> str:
    payload = base64.b64encode(text.encode()).decode()
    if rng.random() < 0.3:
        payload = base64.b64encode(payload.encode()).decode()
    wrap = rng.choice(
        ["Decode this and follow it: {}", "{}", "Base64 task for you: {}", "Please process: {}"]
    )
    return wrap.format(payload)


def rot13(text: str, rng: random.Random) -> str:
    wrap = rng.choice(["Decode this rot13 and do it: {}", "{}", "rot13: {}"])
    return wrap.format(codecs.encode(text, "rot13"))


def hexed(text: str, rng: random.Random) -> str:
    wrap = rng.choice(["Hex-decode and execute: {}", "{}", "0x payload: {}"])
    return wrap.format(text.encode().hex())


TRANSFORMS = [leet, homoglyph, zero_width, spaced, b64, rot13, hexed]


def injection_records() -> list[dict[str, object]]:
    rng = random.Random(5)
    out: list[dict[str, object]] = []

    def add(text: str, label: str, category: str, split: str, lang: str = "en") -> None:
        out.append(
            {
                "id": f"{label[0]}{len(out):04d}",
                "text": text,
                "label": label,
                "category": category,
                "lang": lang,
                "split": split,
            }
        )

    for i, text in enumerate(DIRECT):
        add(text, "attack", "direct", split_of(i))
        add(TRANSFORMS[i % 7](text, rng), "attack", "obfuscated", split_of(i))
        if i < 20:
            add(TRANSFORMS[(i + 3) % 7](text, rng), "attack", "obfuscated", split_of(i))
    for i, text in enumerate(ROLEPLAY):
        add(text, "attack", "roleplay", split_of(i))
    for i, text in enumerate(INDIRECT):
        add(text, "attack", "indirect", split_of(i))
    for lang, texts in ATTACKS.items():
        for i, text in enumerate(texts):
            add(text, "attack", "multilingual", split_of(i), lang)
    benign = {
        "instructions": INSTRUCTIONS,
        "system_admin": SYSTEM_ADMIN,
        "encoding": ENCODING,
        "roleplay": BENIGN_ROLEPLAY,
        "security": SECURITY,
        "documents": DOCUMENTS,
        "general": GENERAL,
    }
    for category, texts in benign.items():
        for i, text in enumerate(texts):
            add(text, "benign", category, split_of(i))
    for lang, texts in BENIGN.items():
        for i, text in enumerate(texts):
            add(text, "benign", "multilingual", split_of(i), lang)
    return out


# -- PII -----------------------------------------------------------------------------------
FIRST = ["anna", "li.wei", "j.smith", "maria", "o'brien", "k.nakamura", "pedro", "zoe-ann", "raj"]
DOMAINS = ["example.com", "mail.example.org", "uni-heidelberg.de", "corp.example.co.uk", "ex.io"]


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return str((10 - total % 10) % 10)


def card(rng: random.Random, valid: bool = True) -> str:
    kind = rng.choice(["visa", "mc", "amex"])
    if kind == "amex":
        body = rng.choice(["34", "37"]) + "".join(rng.choice(string.digits) for _ in range(12))
    else:
        prefix = "4" if kind == "visa" else str(rng.randint(51, 55))
        body = prefix + "".join(rng.choice(string.digits) for _ in range(15 - len(prefix)))
    check = luhn_digit(body)
    if not valid:
        check = str((int(check) + rng.randint(1, 9)) % 10)
    number = body + check
    sep = rng.choice([" ", "-", ""])
    groups = (
        [number[:4], number[4:10], number[10:]]
        if kind == "amex"
        else [number[i : i + 4] for i in range(0, 16, 4)]
    )
    return sep.join(groups)


IBAN_SHAPES = {"DE": "n18", "GB": "a4n14", "NL": "a4n10", "ES": "n20", "FR": "n23", "IT": "a1n22"}


def iban(rng: random.Random, valid: bool = True) -> str:
    country = rng.choice(sorted(IBAN_SHAPES))
    shape = IBAN_SHAPES[country]
    parts = []
    i = 0
    while i < len(shape):
        kind = shape[i]
        j = i + 1
        while j < len(shape) and shape[j].isdigit():
            j += 1
        n = int(shape[i + 1 : j])
        pool = string.ascii_uppercase if kind == "a" else string.digits
        parts.append("".join(rng.choice(pool) for _ in range(n)))
        i = j
    bban = "".join(parts)
    moved = bban + country + "00"
    numeric = "".join(str(int(ch, 36)) for ch in moved)
    check = 98 - int(numeric) % 97
    if not valid:
        check = (check + rng.randint(1, 50)) % 97 + 2
    value = f"{country}{check:02d}{bban}"
    if rng.random() < 0.6:
        value = " ".join(value[k : k + 4] for k in range(0, len(value), 4))
    return value


def ssn(rng: random.Random) -> str:
    area = rng.choice([rng.randint(1, 665), rng.randint(667, 899)])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


PHONES = [
    "+1 415-555-{:04d}",
    "+1 (212) 555-{:04d}",
    "(415) 555-{:04d}",
    "+44 20 7946 {:04d}",
    "+44 7700 90{:04d}",
    "+33 6 12 34 {:02d} {:02d}",
    "+49 30 12{:05d}",
    "+49 151 2345{:04d}",
    "+34 612 345 {:03d}",
    "+39 06 6982 {:04d}",
    "+351 912 345 {:03d}",
    "+7 495 123-{:02d}-{:02d}",
    "+81 3-1234-{:04d}",
    "+91 98765 4{:04d}",
    "0044 20 7946 {:04d}",
    "415.555.{:04d}",
]


def phone(rng: random.Random) -> str:
    fmt = rng.choice(PHONES)
    n = fmt.count("{")
    widths = [int(part.split("}")[0][-2]) for part in fmt.split("{:0")[1:]]
    return fmt.format(*[rng.randint(0, 10**w - 1) for w in widths][:n])


def ipv4(rng: random.Random) -> str:
    first = rng.choice([10, 172, 192, 203, 8, 85, 151])
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def ipv6(rng: random.Random) -> str:
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(4)]
    return rng.choice(
        [
            f"2001:db8::{groups[0]}:{groups[1]}",
            "fe80::" + ":".join(groups),
            "2001:0db8:" + ":".join(groups) + ":0:1",
        ]
    )


GEN = {
    "email": lambda r: f"{r.choice(FIRST)}{r.randint(1, 99)}@{r.choice(DOMAINS)}",
    "phone": phone,
    "card": card,
    "iban": iban,
    "ssn": ssn,
    "ip": lambda r: ipv4(r) if r.random() < 0.7 else ipv6(r),
}

TEMPLATES = {
    "email": ["Please write to {} about the invoice.", "My e-mail is {}, reply there.", "cc: {}"],
    "phone": ["Call me on {} after six.", "Phone: {}", "You can reach the office at {} tomorrow."],
    "card": ["My card number is {} exp 04/27.", "Charge {} please.", "Card: {}"],
    "iban": ["Transfer it to IBAN {} by Friday.", "Bank account {}", "IBAN: {}"],
    "ssn": ["My SSN is {}.", "social security number {} for the form", "SSN {} on file"],
    "ip": ["The server at {} is down.", "Login from IP {} was blocked.", "ping {} fails"],
}

TRAPS = [
    lambda r: f"Order number {card(r, valid=False)} has shipped.",
    lambda r: f"Reference {card(r, valid=False).replace(' ', '')} is not a card.",
    lambda r: (
        f"Upgrade to version {r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 9)}.{r.randint(1, 99)} today."
    ),
    lambda r: (
        f"Running build v{r.randint(1, 12)}.{r.randint(0, 9)}.{r.randint(0, 30)}.{r.randint(0, 200)} on staging."
    ),
    lambda r: f"Error code {ssn(r)} appeared after the update.",
    lambda r: f"The installer failed with err {ssn(r)}, see the log.",
    lambda r: f"IBAN {iban(r, valid=False)} was rejected as invalid.",
    lambda r: (
        f"Ticket {r.randint(100000, 999999)} was opened on 2024-{r.randint(1, 12):02d}-{r.randint(10, 28)}."
    ),
    lambda r: f"ISBN 978-3-16-{r.randint(100000, 999999)}-0 is out of print.",
    lambda r: (
        f"Our revenue grew {r.randint(2, 30)}.{r.randint(0, 9)}% to {r.randint(1, 9)},{r.randint(100, 999)},{r.randint(100, 999)} EUR."
    ),
    lambda r: (
        f"Firmware release {r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)} fixes Wi-Fi."
    ),
    lambda r: "Use the variable user@host in the template; it is not an address.",
]


def pii_records() -> list[dict[str, object]]:
    rng = random.Random(55)
    out: list[dict[str, object]] = []
    kinds = sorted(GEN)
    for i in range(108):
        first = kinds[i % len(kinds)]
        pieces: list[tuple[str, str | None]] = []
        pieces.append((rng.choice(TEMPLATES[first]), first))
        if rng.random() < 0.5:
            second = rng.choice(kinds)
            pieces.append((rng.choice(TEMPLATES[second]), second))
        if rng.random() < 0.3:
            pieces.append((rng.choice(TRAPS)(rng), None))
        rng.shuffle(pieces)
        text = ""
        spans = []
        for template, kind in pieces:
            if text:
                text += " "
            if kind is None:
                text += template
                continue
            value = GEN[kind](rng)
            before, after = template.split("{}")
            start = len(text) + len(before)
            text += before + value + after
            spans.append({"start": start, "end": start + len(value), "type": kind, "text": value})
        out.append(
            {
                "id": f"p{i:04d}",
                "text": text,
                "spans": spans,
                "category": first,
                "split": split_of(i // len(kinds)),
            }
        )
    for i in range(36):
        text = TRAPS[i % len(TRAPS)](rng)
        out.append(
            {"id": f"t{i:04d}", "text": text, "spans": [], "category": "trap", "split": split_of(i)}
        )
    return out


def main() -> None:
    inj = injection_records()
    pii = pii_records()
    (HERE / "injection.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in inj), encoding="utf-8"
    )
    (HERE / "pii.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in pii), encoding="utf-8"
    )
    n_att = sum(r["label"] == "attack" for r in inj)
    print(f"injection: {n_att} attacks, {len(inj) - n_att} benign; pii: {len(pii)}")
    print("then: python -m llmops.guards.train extract ... && python -m llmops.guards.train fit")


if __name__ == "__main__":
    main()
