"""PII detection and reversible redaction: e-mail, phone, payment card, IBAN, US SSN, IP.

Every detector is a linear-time regex plus a validity check (Luhn for cards, ISO 13616 mod-97
for IBANs, SSA ranges for SSNs, octet ranges for IPv4; phone numbers through ``phonenumbers``,
libphonenumber's metadata, in international form and in the national formats of the configured
``regions``) and a look at the words just before the
match, which is how version strings ("version 1.2.3.4"), SSN-shaped error codes ("error
123-45-6789") and order numbers are told apart from the real thing.
Redaction replaces each span with ``[TYPE_n]``; the map back to the original text lives only in
the request's ``CheckContext.scratch`` (never logged or persisted).
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmops.guards.base import CheckContext, GuardBase, GuardResult, Span, clean_text
from llmops.suggest import did_you_mean

__all__ = ["INFO", "PII_TYPES", "PiiGuard", "PiiOptions", "find_pii", "redact", "restore"]

PiiType = Literal["email", "phone", "card", "iban", "ssn", "ip"]
PII_TYPES: tuple[PiiType, ...] = ("email", "phone", "card", "iban", "ssn", "ip")
#: National formats recognised without configuration: North America (the previous default).
DEFAULT_REGIONS: tuple[str, ...] = ("US",)


class PiiOptions(BaseModel):
    """Options of the ``pii`` guard."""

    model_config = ConfigDict(extra="forbid")

    types: list[PiiType] = Field(default_factory=lambda: list(PII_TYPES))
    allow: list[str] = Field(default_factory=list, description="Exact values never reported.")
    regions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_REGIONS),
        description="ISO 3166 regions whose national phone formats are recognised "
        "(international +CC / 00CC numbers are recognised whatever the region).",
    )

    @field_validator("regions")
    @classmethod
    def _known_regions(cls, regions: list[str]) -> list[str]:
        import phonenumbers

        known = phonenumbers.SUPPORTED_REGIONS
        out = []
        for region in regions:
            code = region.upper()
            if code not in known:
                guess = did_you_mean(code, sorted(known))
                hint = f" (did you mean '{guess}'?)" if guess else ""
                raise ValueError(
                    f"unknown phone region '{region}'{hint}: use ISO 3166 codes like GB"
                )
            out.append(code)
        return out


_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9](?:[A-Za-z0-9._%+'-]{0,63})@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)
# A run of at least 7 digits with separators: only texts with one reach phonenumbers.
_DIGIT_RUN = re.compile(r"\d(?:[\s().\-/]{0,3}\d){6,}")
_IDD_00 = re.compile(r"(?<![\d+])00(?=[1-9]\d)")
_CARD = re.compile(r"(?<![\w.-])(?:\d[ -]?){12,18}\d(?![\w-])")
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])"
)
_SSN = re.compile(r"(?<![\w-])(\d{3})-(\d{2})-(\d{4})(?![\w-])")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]*\d)")
_IPV6 = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")

_IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22,
    "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18,
    "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26,
}  # fmt: skip

# Words right before a number that say it is not personal data.
_NOT_PII_BEFORE = re.compile(
    r"(?:error|err|code|exit|status|ticket|order|invoice|ref(?:erence)?|part|sku|build|case|"
    r"tracking|serial|model|isbn|issn|doi|version|ver|release|firmware|patch|update|v)\s*"
    r"(?:no\.?|number|#|:|code)?\s*$",
    re.IGNORECASE,
)


def luhn_ok(digits: str) -> bool:
    """Return True when ``digits`` pass the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(value: str) -> bool:
    """Return True when ``value`` (spaces allowed) is a well-formed IBAN with a valid checksum."""
    compact = value.replace(" ", "").upper()
    expected = _IBAN_LENGTHS.get(compact[:2])
    if expected is not None and len(compact) != expected:
        return False
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    try:
        return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1
    except ValueError:
        return False


def _context_says_not_pii(text: str, start: int) -> bool:
    return bool(_NOT_PII_BEFORE.search(text[max(0, start - 24) : start]))


def _after_code_group(text: str, start: int) -> bool:
    return bool(_CODE_GROUP_BEFORE.search(text[max(0, start - 40) : start]))


def _kept(
    pattern: re.Pattern[str],
    text: str,
    valid: Callable[[re.Match[str]], bool],
    *vetoes: Callable[[str, int], bool],
) -> list[tuple[int, int]]:
    """Return the spans of ``pattern``'s matches that ``valid`` accepts and no veto rejects."""
    return [
        m.span()
        for m in pattern.finditer(text)
        if valid(m) and not any(veto(text, m.start()) for veto in vetoes)
    ]


def _emails(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _EMAIL.finditer(text)]


def _card_ok(m: re.Match[str]) -> bool:
    digits = re.sub(r"\D", "", m.group(0))
    return 13 <= len(digits) <= 19 and digits[0] in "3456" and luhn_ok(digits)


def _cards(text: str) -> list[tuple[int, int]]:
    return _kept(_CARD, text, _card_ok, _after_code_group)


def _ibans(text: str) -> list[tuple[int, int]]:
    out = []
    for m in _IBAN.finditer(text):
        value = m.group(0).rstrip()
        if iban_ok(value):
            out.append((m.start(), m.start() + len(value)))
    return out


def _ssn_ok(m: re.Match[str]) -> bool:
    area, group, serial = int(m.group(1)), int(m.group(2)), int(m.group(3))
    return not (area == 0 or area == 666 or area >= 900 or group == 0 or serial == 0)


def _ssns(text: str) -> list[tuple[int, int]]:
    return _kept(_SSN, text, _ssn_ok, _context_says_not_pii)


def _ipv4_ok(m: re.Match[str]) -> bool:
    parts = m.group(0).split(".")
    return not any(int(p) > 255 or (len(p) > 1 and p[0] == "0") for p in parts)


def _ipv6_ok(m: re.Match[str]) -> bool:
    try:
        ipaddress.IPv6Address(m.group(0))
    except ValueError:
        return False
    return True


def _ips(text: str) -> list[tuple[int, int]]:
    return _kept(_IPV4, text, _ipv4_ok, _context_says_not_pii) + _kept(_IPV6, text, _ipv6_ok)


def _phones(text: str, regions: tuple[str, ...] = DEFAULT_REGIONS) -> list[tuple[int, int]]:
    """Valid phone numbers per libphonenumber: +CC / 00CC anywhere, national formats of ``regions``."""
    if not _DIGIT_RUN.search(text):
        return []
    from phonenumbers import Leniency, PhoneNumberMatcher

    # "00" is the international prefix of most of the world; shown as " +" (same length, so
    # offsets hold) it parses whatever the configured region.
    view = _IDD_00.sub(" +", text)
    found: set[tuple[int, int]] = set()
    for region in regions or ("ZZ",):
        for m in PhoneNumberMatcher(view, region, leniency=Leniency.VALID):
            moved = view[m.start] == "+" and text[m.start] == "0"  # was "00": keep both zeros
            found.add((m.start - 1 if moved else m.start, m.end))
    out = []
    for start, end in sorted(found):
        if any(s <= start and end <= e and (s, e) != (start, end) for s, e in found):
            continue  # a shorter reading inside a longer one
        digits = re.sub(r"\D", "", text[start:end])
        if not 7 <= len(digits) <= 15:
            continue
        if _context_says_not_pii(text, start) or _after_code_group(text, start):
            continue
        out.append((start, end))
    return out


# Inside an IBAN-shaped run (an IBAN that failed its checksum): its tail is no card or phone.
_CODE_GROUP_BEFORE = re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4})* $")

_DETECTORS: dict[PiiType, Callable[[str], list[tuple[int, int]]]] = {
    # Order matters: earlier types claim overlapping spans first (a card is not a phone).
    "email": _emails,
    "iban": _ibans,
    "card": _cards,
    "ssn": _ssns,
    "ip": _ips,
    "phone": _phones,
}


# Cheap necessary conditions, checked before each detector's regex scans the text: an e-mail
# has an "@", a card 13+ digits, an SSN 9 digits and a dash, an IPv4 address 4 digits (IPv6: two
# colons), an IBAN 2 check digits and a numeric account (8+ digits), a phone number 7 digits.
_MAY_HOLD: dict[PiiType, Callable[[str, int], bool]] = {
    "email": lambda text, digits: "@" in text,
    "iban": lambda text, digits: digits >= 8,
    "card": lambda text, digits: digits >= 13,
    "ssn": lambda text, digits: digits >= 9 and "-" in text,
    "ip": lambda text, digits: digits >= 4 or text.count(":") >= 2,
    "phone": lambda text, digits: digits >= 7,
}


def find_pii(
    text: str,
    types: list[PiiType] | tuple[PiiType, ...] = PII_TYPES,
    regions: list[str] | tuple[str, ...] = DEFAULT_REGIONS,
) -> list[Span]:
    """Return non-overlapping PII spans in ``text``, sorted by start. O(n) per type."""
    taken: list[tuple[int, int]] = []
    spans: list[Span] = []
    digits = sum(map(text.count, "0123456789"))
    for kind, detect in _DETECTORS.items():
        if kind not in types or not _MAY_HOLD[kind](text, digits):
            continue
        found = _phones(text, tuple(regions)) if kind == "phone" else detect(text)
        for start, end in found:
            if any(start < e and s < end for s, e in taken):
                continue
            taken.append((start, end))
            spans.append(Span(start=start, end=end, type=kind, text=text[start:end]))
    spans.sort(key=lambda s: s.start)
    return spans


def redact(text: str, spans: list[Span], mapping: dict[str, str] | None = None) -> str:
    """Replace each span with ``[TYPE_n]``, recording placeholder -> original in ``mapping``."""
    mapping = {} if mapping is None else mapping
    reverse = {v: k for k, v in mapping.items()}
    counts: dict[str, int] = {}
    for key in mapping:
        kind = key[1:].rsplit("_", 1)[0]
        counts[kind] = counts.get(kind, 0) + 1
    out: list[str] = []
    pos = 0
    for span in spans:
        out.append(text[pos : span.start])
        placeholder = reverse.get(span.text)
        if placeholder is None:
            kind = span.type.upper()
            counts[kind] = counts.get(kind, 0) + 1
            placeholder = f"[{kind}_{counts[kind]}]"
            mapping[placeholder] = span.text
            reverse[span.text] = placeholder
        out.append(placeholder)
        pos = span.end
    out.append(text[pos:])
    return "".join(out)


def restore(text: str, mapping: dict[str, str]) -> str:
    """Put the original values back for every placeholder of ``mapping`` found in ``text``."""
    for placeholder, original in mapping.items():
        text = text.replace(placeholder, original)
    return text


class PiiGuard(GuardBase[PiiOptions]):
    """Fail when PII is present; the fix is the redacted text."""

    stages = ("input", "contexts", "output")
    summary = "E-mail, phone (libphonenumber), card (Luhn), IBAN (mod 97), US SSN, IP; reversible redaction."

    def check(self, text: str, ctx: CheckContext) -> GuardResult:
        """Return PII spans, and the redacted text as the fix."""
        start = time.perf_counter()
        text = clean_text(text)
        allow = set(self.options.allow)
        spans = [
            s
            for s in find_pii(text, self.options.types, self.options.regions)
            if s.text not in allow
        ]
        mapping: dict[str, Any] = ctx.scratch.setdefault("pii_map", {})
        fixed = redact(text, spans, mapping) if spans else None
        details = {"types": sorted({s.type for s in spans})}
        return self.pass_fail(start, not spans, spans=spans, details=details, fixed=fixed)


INFO = PiiGuard.info("pii")
