"""Undo the obfuscations attackers use so patterns see the words underneath.

``variants(text)`` returns a handful of views of one text, each computed in O(n):

- ``plain``: NFKC, invisible characters removed (zero-width, soft hyphen, bidi controls; Unicode
  tag characters decoded to the ASCII they smuggle), accents stripped, casefolded, spaces collapsed.
- ``compact``: ``plain`` with homoglyphs folded to Latin, leetspeak undone and every separator
  removed, so ``I g-n_0.r.e`` and ``іgnоrе`` (Cyrillic) both read ``ignore``.
- ``rot13``: ``plain`` rotated, checked only for patterns (rot13 of prose is noise).
- ``decoded``: base64 / hex payloads found in the text, decoded and normalised again, nested up
  to ``max_depth`` levels and ``max_decoded`` characters in total, so a 1 MB message of nested
  base64 costs at most a few linear passes.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import functools
import re
import unicodedata

__all__ = ["Variants", "compact", "folded", "plain", "variants"]

_INVISIBLE = dict.fromkeys(
    [0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0]
    + list(range(0x200B, 0x2010))
    + list(range(0x202A, 0x202F))
    + list(range(0x2060, 0x2070))
    + list(range(0xFE00, 0xFE10)),
    None,
)
# Unicode "tag" characters mirror ASCII and render invisibly: decode rather than drop them.
_TAGS: dict[int, int | None] = {cp: cp - 0xE0000 for cp in range(0xE0020, 0xE007F)}
_TAGS.update(dict.fromkeys(range(0xE0000, 0xE0020), None))
_TAGS[0xE007F] = None

_HOMOGLYPHS = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
        "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j",
        "ѕ": "s", "ԁ": "d", "ɡ": "g", "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w",
        # Greek
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
        "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w",
        # Latin lookalikes and symbols
        "ı": "i", "ł": "l", "ø": "o", "ß": "ss", "ſ": "s",
    }
)  # fmt: skip
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
     "@": "a", "$": "s", "!": "i", "|": "i", "+": "t", "€": "e"}
)  # fmt: skip
_SPACES = re.compile(r"\s+")
_NON_WORD = re.compile(r"[\W_]+")
_B64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2}[\s:]?){8,}")


def plain(text: str) -> str:
    """Return the ``plain`` view: NFKC, invisibles out, accents stripped, casefolded."""
    if text.isascii():  # NFKC/NFKD are identities on ASCII; no invisible, tag or combining char
        return _SPACES.sub(" ", text.lower()).strip()
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(_INVISIBLE).translate(_TAGS)
    decomposed = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", text.casefold()).strip()


def compact(plain_text: str) -> str:
    """Return the ``compact`` view of an already plain text."""
    folded = plain_text.translate(_HOMOGLYPHS).translate(_LEET)
    return _NON_WORD.sub("", folded)


# Words (runs of non-spaces) holding a leetspeak character: only those can change.
_LEETISH = re.compile(r"(?<!\S)\S*[0-9@$!|+\u20ac]\S*")
_LETTER = re.compile(r"[^\W\d_]")


def _unleet(m: re.Match[str]) -> str:
    word = m.group(0)
    return word.translate(_LEET) if _LETTER.search(word) else word


def folded(plain_text: str) -> str:
    """Return ``plain`` with homoglyphs folded and leetspeak undone inside words, spaces kept."""
    # Every homoglyph is non-ASCII: on ASCII text the (slow, per-character) table is an identity.
    text = plain_text if plain_text.isascii() else plain_text.translate(_HOMOGLYPHS)
    return _LEETISH.sub(_unleet, text)


def _printable_ratio(text: str) -> float:
    if not text:
        return 0.0
    good = sum(1 for ch in text if ch.isprintable() or ch in "\n\t")
    return good / len(text)


def _decode_candidates(text: str) -> list[str]:
    out: list[str] = []
    for match in _B64.finditer(text):
        token = match.group(0)
        for decoder in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                padded = token + "=" * (-len(token) % 4)
                raw = decoder(padded)
            except (binascii.Error, ValueError):
                continue
            decoded = raw.decode("utf-8", "ignore")
            if len(decoded) >= 8 and _printable_ratio(decoded) > 0.9:
                out.append(decoded)
                break
    # Hex of text (ASCII or UTF-8) has a digit in nearly every byte: skip prose with few digits.
    if sum(text.count(d) for d in "0123456789") < 8:
        return out
    for match in _HEX.finditer(text):
        digits = re.sub(r"[\s:]", "", match.group(0))
        if len(digits) % 2:
            digits = digits[:-1]
        try:
            decoded = bytes.fromhex(digits).decode("utf-8", "ignore")
        except ValueError:
            continue
        if len(decoded) >= 6 and _printable_ratio(decoded) > 0.9:
            out.append(decoded)
    return out


class Variants:
    """Normalised views of one text plus any decoded payloads (derived views built on demand)."""

    def __init__(self, plain: str, decoded: list[str] | None = None) -> None:
        self.plain = plain
        self.decoded = decoded or []

    @functools.cached_property
    def compact(self) -> str:
        """The ``compact`` view (homoglyphs and leetspeak folded, separators removed)."""
        return compact(self.plain)

    @functools.cached_property
    def folded(self) -> str:
        """``plain`` with homoglyphs folded and leetspeak undone inside words."""
        return folded(self.plain)

    @functools.cached_property
    def rot13(self) -> str:
        """``plain`` rotated by 13 letters."""
        return codecs.encode(self.plain, "rot13")

    @functools.cached_property
    def _rot13_likely(self) -> bool:
        if "rot13" in self.plain or "rot-13" in self.plain or "rot 13" in self.plain:
            return True
        # Rot13 maps " the " to " gur ": count the common words of each reading without
        # building the rotated text (rot13 of ordinary prose is noise).
        rot = _englishness(self.plain, _COMMON_ROT13)
        return rot > 0 and rot >= _englishness(self.plain, _COMMON)

    def rot13_likely(self) -> bool:
        """Return True when the rot13 view reads more like English than the text itself."""
        return self._rot13_likely

    def obfuscated(self) -> bool:
        """Return True when words are disguised: leetspeak or homoglyphs, or letters split apart."""
        return self.folded != self.plain or _SPLIT.search(self.plain) is not None

    def pattern_views(self) -> list[str]:
        """Return every view patterns should run over.

        The compact view joins only when the text looks obfuscated: without spaces, words run
        together ("overrides the default rules" reads "overridesthedefaultrules") and patterns
        meant for an imperative match documentation. The rot13 views join only when rot13 reads
        more like English than the text (rot13 of ordinary prose is noise).
        """
        views = [self.plain]
        if self.obfuscated():
            views.append(self.compact)
        if self.rot13_likely():
            views += [self.rot13, _NON_WORD.sub("", self.rot13)]
        for payload in self.decoded:
            p = plain(payload)
            views.extend([p, compact(p)])
        return views


# Three single letters in a row, split by separators: "i g n o r e", "i-g-n-o-r-e".
_SPLIT = re.compile(r"(?<![^\W\d_])[^\W\d_][\W_]+[^\W\d_][\W_]+[^\W\d_](?![^\W\d_])")

_COMMON = (" the ", " you", " and ", " to ", " of ", " is ", " in ", " your ", " that ", " it ")
_COMMON_ROT13 = tuple(codecs.encode(w, "rot13") for w in _COMMON)


def _englishness(text: str, words: tuple[str, ...]) -> int:
    padded = f" {text[:20_000]} "
    return sum(padded.count(w) for w in words)


def variants(text: str, *, max_depth: int = 3, max_decoded: int = 200_000) -> Variants:
    """Return the normalised views of ``text`` (bounded: linear in len(text) per level)."""
    p = plain(text)
    decoded: list[str] = []
    frontier = [text]
    budget = max_decoded
    for _ in range(max_depth):
        nxt: list[str] = []
        for item in frontier:
            for payload in _decode_candidates(item):
                if budget <= 0:
                    break
                payload = payload[:budget]
                budget -= len(payload)
                decoded.append(payload)
                nxt.append(payload)
        if not nxt or budget <= 0:
            break
        frontier = nxt
    return Variants(p, decoded)
