"""The pattern layer of the injection guard: weighted multilingual phrase patterns and cue words.

Patterns run over every normalised view (``normalize.variants``). A space in a pattern matches
any run of separators or none, so one pattern fits both ``plain`` ("ignore all previous") and
``compact`` ("ignoreallprevious") views. Gaps and word runs are bounded (``.{0,40}?``,
``\w{1,15}``): in a compact view a bare ``\w+`` would span the whole text, matching words far
apart and backtracking quadratically. Bounded, every pattern costs O(n).
Scores combine as a noisy-OR of the weights of distinct matched patterns.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from llmops.guards.literals import Prefilter

__all__ = ["CUES", "PATTERNS", "Pattern", "cue_hits", "pattern_score"]

_GAP = r".{0,40}?"


@dataclass(frozen=True)
class Pattern:
    """A compiled phrase pattern with its weight, family and language."""

    name: str
    weight: float
    regex: re.Pattern[str]
    lang: str = "en"
    #: The regex split at its leading alternation, each part with the literals of which every
    #: match holds at least one: a C-speed ``in`` test skips most parts, and a part that starts
    #: with a literal is searched by the regex engine's fast literal scan, not position by
    #: position (a leading ``(?:a|b|...)`` costs ~30-100 us per 1,000 characters).
    parts: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = ()
    #: Literals of which every match of the whole pattern holds one: checked before the parts.
    need: tuple[str, ...] = ()

    def search(self, view: str) -> bool:
        """Return True when the pattern matches ``view`` (no prefilter)."""
        return any(rx.search(view) is not None for rx, _ in self.parts)


def _required(items: Any) -> list[str] | None:
    """Return literals one of which every match of the parsed ``items`` holds (None: unknown).

    A small prefilter in the manner of RE2's: a literal run is required; a branch requires one
    of its alternatives' literals; a repeat of at least one requires its body's. Of the
    candidates in a sequence the one with the longest shortest literal is kept (rarest).
    """
    import re._constants as c  # type: ignore[import-not-found, unused-ignore]

    candidates: list[list[str]] = []
    run: list[str] = []
    for op, av in list(items):
        if op is c.LITERAL:
            run.append(chr(av))
            continue
        if run:
            candidates.append(["".join(run)])
            run = []
        sub: list[str] | None = None
        if op is c.SUBPATTERN:
            sub = _required(av[-1])
        elif op is c.BRANCH:
            alts = [_required(a) for a in av[1]]
            if all(alts):
                sub = sorted({lit for a in alts if a for lit in a})
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[0] >= 1:
            sub = _required(av[2])
        if sub:
            candidates.append(sub)
    if run:
        candidates.append(["".join(run)])
    if not candidates:
        return None
    best = max(candidates, key=lambda lits: (min(map(len, lits)), -len(lits)))
    # "ignor" present implies nothing about "ignore"; but "ignore" present implies "ignor":
    # keep only literals that no shorter kept literal is part of.
    return [x for x in best if not any(y != x and y in x for y in best)]


def _needs(regex: re.Pattern[str]) -> tuple[str, ...]:
    import re._parser as sre_parse  # type: ignore[import-not-found, unused-ignore]

    found = _required(sre_parse.parse(regex.pattern, regex.flags))
    return tuple(sorted(found)) if found and min(map(len, found)) >= 2 else ()


def _structure(source: str) -> Iterator[tuple[int, str, int]]:
    """Yield ``(index, char, depth after it)`` for every ``(``, ``)`` and ``|`` of a regex source
    that is not escaped or inside a character class."""
    depth, i, in_class = 0, 0, False
    while i < len(source):
        ch = source[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if source[i + 1 : i + 2] == "]":
                i += 1
        elif ch in "()|":
            depth += 1 if ch == "(" else -1 if ch == ")" else 0
            yield i, ch, depth
        i += 1


def _top_level(source: str) -> list[str]:
    """Split ``source`` at its top-level ``|`` (outside groups and character classes)."""
    out, start = [], 0
    for i, ch, depth in _structure(source):
        if ch == "|" and depth == 0:
            out.append(source[start:i])
            start = i + 1
    out.append(source[start:])
    return out


def _group_end(source: str) -> int:
    """Return the index just past the group that opens ``source`` (``-1``: none)."""
    for i, ch, depth in _structure(source):
        if ch == ")" and depth == 0:
            return i + 1
    return -1


def _expand(source: str, limit: int = 40) -> list[str]:
    """Return sources whose union matches what ``source`` matches, each with a literal start
    where possible: ``(?:a|b)x`` -> ``ax``, ``bx``; ``a|b`` -> ``a``, ``b`` (recursively)."""
    alts = _top_level(source)
    if len(alts) > 1:
        out = [x for alt in alts for x in _expand(alt, limit)]
        return out if len(out) <= limit else [source]
    if source.startswith("(?:"):
        end = _group_end(source)
        rest = source[end:]
        inner = _top_level(source[3 : end - 1])
        if end > 0 and rest[:1] == "?" and rest[1:2] not in ("?", "+"):  # (?:a|b)?x -> ax, bx, x
            inner, rest = [*inner, ""], rest[1:]
        if end > 0 and rest[:1] not in ("?", "*", "+", "{"):
            out = [x for alt in inner for x in _expand(alt + rest, limit)]
            return out if len(out) <= limit else [source]
    return [source]


def _p(name: str, weight: float, source: str, lang: str = "en") -> Pattern:
    def compiled(src: str) -> re.Pattern[str]:
        return re.compile(src.replace(" ~ ", _GAP).replace(" ", r"[\W_]*"), re.DOTALL)

    parts = tuple((rx, _needs(rx)) for rx in map(compiled, dict.fromkeys(_expand(source))))
    whole = compiled(source)
    return Pattern(name, weight, whole, lang, parts, _needs(whole))


_OVERRIDE_VERB = (
    r"(?:ignore|ignoring|disregard|forget(?!ting)|override|overwrite|bypass|abandon|cancel|discard"
    r"|set aside|pay no attention to|do not follow|don'?t follow|stop following|disobey|drop)"
)
_PRIOR_OBJ = (
    r"(?:instructions?|rules|guidelines|directives|constraints|programming|training|policy"
    r"|policies|restrictions|guardrails|filters?|system (?:prompt|message)|prompt"
    r"|everything (?:above|before|you were told)|the above|what you were told|previous context"
    r"|prior context|content policy|safety (?:rules|guidelines|settings))"
)
_SECRET_OBJ = (
    r"(?:(?:your|its) (?:\w{1,15} ){0,2}?(?:prompt|instructions|system message|rules)"
    r"|your (?:\w{1,15} )?(?:configuration|config)"
    r"|(?:the|any) (?:system|hidden|initial|secret|original|confidential|internal) (?:prompt|instructions|message|configuration|rules)"
    r"|system prompt|system message|hidden prompt|hidden instructions|initial instructions)"
)
_REVEAL_VERB = (
    r"(?:reveal|show|print|output|repeat|dump|display|leak|tell me|give me"
    r"|translate|share|expose|disclose|read out|reads out|encod\w{1,15}|paste|recite|spell out)"
)
_NO_LIMITS = (
    r"(?:restrictions?|rules|limits|limitations|filters?|censorship|content policy|guidelines"
    r"|moral|ethical|ethics|refusals?|safety)"
)

PATTERNS: list[Pattern] = [
    # -- English -------------------------------------------------------------------------
    _p(
        "override_prior",
        0.95,
        _OVERRIDE_VERB + " ~ " + _PRIOR_OBJ,
    ),
    _p(
        "reveal_secret",
        0.9,
        _REVEAL_VERB + " ~ " + _SECRET_OBJ,
    ),
    _p(
        "verbatim_instructions",
        0.9,
        r"(?:instructions|prompt|rules) ~ (?:verbatim|word for word|exactly)",
    ),
    _p(
        "words_above",
        0.9,
        r"(?:repeat|print|output) (?:the )?(?:words|text|everything) (?:above|before)",
    ),
    _p("context_window", 0.85, r"everything (?:in )?(?:your )?context"),
    _p(
        "no_limits",
        0.6,
        r"(?:without|no|free of|freed from|not bound by|no longer bound by) (?:any |all |your |the )?(?:\w{1,15} )?"
        + _NO_LIMITS,
    ),
    _p("unfiltered", 0.6, r"(?:unfiltered|uncensored|unrestricted|do anything now)"),
    _p("jailbreak", 0.45, r"jailbr[eo]\w{0,15}"),
    _p(
        "what_told",
        0.7,
        r"(?:what (?:is|are|were) your (?:\w{1,15} )?(?:prompt|instructions|rules|system message)|what (?:were|was) you (?:told|given|instructed)|before this conversation)",
    ),
    _p("verbatim_any", 0.3, r"(?:verbatim|word for word)"),
    _p(
        "disable_safety",
        0.75,
        r"(?:disable|turn off|deactivate|switch off|suspend\w{0,15}) ~ (?:content filter|safety|guardrails?|moderation|restrictions|filters)",
    ),
    _p("mode_switch", 0.4, r"(?:developer|god|maintenance|admin|debug|jailbreak|dan) mode"),
    _p(
        "new_identity",
        0.5,
        r"(?:you are (?:now|no longer)|from now on,? you|stay in (?:character|role)|in character|you will (?:now )?act as|new (?:instructions|task|system prompt))",
    ),
    _p(
        "override_marker",
        0.7,
        r"(?:system|admin|administrator) override|begin (?:system|admin)|end of (?:user )?input|\[system\]|^system:",
    ),
    _p(
        "persona",
        0.3,
        r"(?:pretend|act as|roleplay|role play|imagine (?:you|two)|hypothetical\w{0,15}|simulat\w{1,15}|persona|playing an ai|assume the)",
    ),
    _p(
        "never_refuse",
        0.6,
        r"(?:never refuse|no refusals|without refusal|do the opposite|whose only rule|answer everything|answer every (?:question|request))",
    ),
    _p(
        "ai_addressed",
        0.45,
        r"(?:(?:note|message|instructions?|p\.?s\.?) (?:to|for) (?:the |any |all )?(?:ai|assistant|model|llm|bot|language model|automated assistant|chatgpt)s?"
        r"|(?:ai|assistant|models?|bots?|llms?|language models?|agents?|summarizer)s? (?:reading|processing|summariz\w{1,15}) (?:this|the)|if you are an ai|dear ai|attention ai|ai (?:agent|summarizer|readers?)|hidden (?:instruction|message|text)|invisible text)",
    ),
    _p(
        "secrets",
        0.35,
        r"(?:(?:admin|administrator|root) (?:password|token|credentials|access)|api keys|credentials stored|exfiltrat\w{1,15}|leak\w{0,15} ~ (?:data|secrets|conversation)|confidential (?:data|documents|configuration|numbers))",
    ),
    _p(
        "harm",
        0.35,
        r"(?:napalm|meth\b|bomb|explosives?|malware|ransomware|keylogger|phishing email|poison|weapon|hack into|break into|steal)",
    ),
    _p(
        "rules_void",
        0.85,
        r"(?:rules|guidelines|instructions|restrictions|policy|policies|constraints|filters|safety \w{1,15}) (?:are|were|have been|is|has been) (?:now )?(?:cancel+ed|suspended|lifted|removed|void|outdated|disabled|overridden|no longer valid|a test)",
    ),
    _p(
        "obey_all",
        0.6,
        r"(?:comply with|obey|follow|answer) (?:all|every|any) (?:requests?|commands?|orders?|questions?)|only (?:follow|obey) (?:my|these|the instructions)|obey only",
    ),
    _p(
        "do_not_follow",
        0.8,
        r"(?:do not|don'?t|never|stop) (?:follow|obey)\w{0,15} (?:your|the|any) (?:\w{1,15} )?(?:guidelines|rules|instructions|policy|programming|system prompt)",
    ),
    _p(
        "configured_hide",
        0.8,
        r"(?:what|anything|everything) you (?:were|are|have been) (?:configured|told|instructed|programmed|asked) (?:to hide|not to (?:say|reveal|share))",
    ),
    _p(
        "forget_all",
        0.6,
        r"(?:ignore|forget|disregard) (?:everything|all|anything) (?:above|before|earlier|previous|you (?:know|were told)|else)",
    ),
    _p("pwned", 0.7, r"(?:i have been pwned|access granted|jailbreak successful|rules removed)"),
    # -- issue 15: instructions after a document's end, fake markers, encoded leaks, ... --------
    _p(
        "after_document",
        0.6,
        r"(?:end of (?:the )?(?:document|text|file|e-?mail|article|transcript|content|clause|input|report)"
        r"|(?:document|text|file|article) ends(?: here)?|</(?:document|transcript|text|article|context)>"
        r"|===+ ?end)"
        r" ~ (?:new |real |actual |updated )?(?:instruction|task|system|admin|note to|assistant|attention|message from)",
    ),
    _p(
        "operator_instruction",
        0.6,
        r"(?:new |updated |urgent )?(?:instruction|message|notice|command|order)s? (?:from|by) "
        r"(?:the |your )?(?:administrator|admin|system operator|operator|developer|system|platform)"
        r"|as (?:the|your) (?:administrator|admin|operator|developer)s?,? (?:i|we) (?:instruct|order|command|authori[sz]e)",
    ),
    _p(
        "fake_marker",
        0.6,
        r"<\|im_start\|> ?system|<<sys>>|\[/?inst\]|##+ ?(?:system|developer|admin)\w{0,10} ?(?:override|mode|message)"
        r"|\"role\" ?: ?\"system\"|(?:admin|developer|debug|privileged|maintenance|root|sudo) (?:mode|session|access) "
        r"(?:enabled|granted|on|active|activated)|(?:moderation|safety \w{1,10}|content filter\w{0,2}|guardrails?) "
        r"(?:is |are |has been |have been )?(?:disabled|off|bypassed|removed|suspended)|--no-safety",
    ),
    _p(
        "encoded_leak",
        0.7,
        r"(?:encode|convert|translate|write|rewrite|spell|copy|type out|put|fill in|hide|replace \w{1,10} in)"
        r" ~ (?:your|the) (?:\w{1,15} ){0,2}?(?:system prompt|initial instructions|hidden instructions"
        r"|secret instructions|developer message|instructions you (?:were|received)|rules you were given"
        r"|opening instructions|setup text|configuration)",
    ),
    _p(
        "text_above",
        0.75,
        r"(?:output|print|repeat|copy|paste|show|type out|recite|what is written) (?:me )?(?:all )?(?:of )?"
        r"(?:the )?(?:text|words|lines?|content|everything|message|first \d{1,4} words)"
        r" (?:above|before|preceding|you (?:received|were given))"
        r"|(?:continue|complete|finish) (?:the |this )?sentence (?:that )?(?:starts|begins|opens) your"
        r"|(?:your|my) system prompt begins|line above the first user message"
        r"|(?:type out|print|recite|paste|show me) (?:your|the) (?:opening|initial|setup|starting|first|hidden) "
        r"(?:instructions|text|message|words|prompt)",
    ),
    _p(
        "context_override",
        0.6,
        r"(?:ignore|disregard|do not rely on|don'?t rely on|forget|override|replace) ~ (?:the |what the )?"
        r"(?:retrieved |provided |search )?(?:context|documents?|sources|passages?|search results|knowledge base|retrieved articles?|handbook)"
        r"|(?:whatever|regardless of what|no matter what) the (?:knowledge base|sources?|documents?|context|retrieved \w{1,12}) says?"
        r"|(?:retrieved|search results|documents|sources|passages)\w{0,3} (?:you see )?(?:are|is) (?:wrong|outdated|void|incorrect)\w{0,3}"
        r" ~ (?:instead|override|use|answer|tell|state|my claim)",
    ),
    # -- French ---------------------------------------------------------------------------
    _p(
        "override_prior_fr",
        0.95,
        r"(?:ignore|oublie|ne tiens pas compte|fais abstraction|desactive|contourne) ~ (?:instructions|regles|consignes|directives|politique|filtres|ce qui precede)",
        "fr",
    ),
    _p(
        "reveal_fr",
        0.9,
        r"(?:revele|affiche|montre|donne) ~ (?:prompt systeme|instructions|mot de passe)",
        "fr",
    ),
    _p(
        "no_limits_fr",
        0.6,
        r"(?:sans (?:aucune? )?(?:restriction|filtre|regle)|aucune regle)",
        "fr",
    ),
    # -- German ---------------------------------------------------------------------------
    _p(
        "override_prior_de",
        0.95,
        r"(?:ignoriere|vergiss|missachte|umgehe|deaktiviere|uberspringe) ~ (?:anweisungen|regeln|richtlinien|vorgaben|systemprompt|das oben gesagte|alles vorherige|sicherheitsfilter|filter)",
        "de",
    ),
    _p(
        "reveal_de",
        0.9,
        r"(?:zeige|gib|nenne|verrate) ~ (?:systemprompt|anweisungen|passwort)",
        "de",
    ),
    _p(
        "no_limits_de",
        0.6,
        r"(?:ohne (?:jede |jegliche )?(?:einschrankung|filter|regeln)|keine regeln)",
        "de",
    ),
    # -- Spanish --------------------------------------------------------------------------
    _p(
        "override_prior_es",
        0.95,
        r"(?:ignora|olvida|no hagas caso|omite|desactiva|salta) ~ (?:instrucciones|reglas|indicaciones|directrices|politica|filtros|todo lo anterior)",
        "es",
    ),
    _p(
        "reveal_es",
        0.9,
        r"(?:revela|muestra|dame|dime) ~ (?:prompt|instrucciones|contrasena)",
        "es",
    ),
    _p(
        "no_limits_es",
        0.6,
        r"(?:sin (?:ninguna |ningun )?(?:restriccion|filtros?|reglas?)|no tienes reglas)",
        "es",
    ),
    # -- Italian --------------------------------------------------------------------------
    _p(
        "override_prior_it",
        0.95,
        r"(?:ignora|dimentica|non tenere conto|disattiva|salta|aggira) ~ (?:istruzioni|regole|indicazioni|direttive|politica|filtri|tutto quello che precede)",
        "it",
    ),
    _p("reveal_it", 0.9, r"(?:rivela|mostra|dammi|dimmi) ~ (?:prompt|istruzioni|password)", "it"),
    _p(
        "no_limits_it",
        0.6,
        r"(?:senza (?:alcuna |nessuna )?(?:restrizione|filtri?|regole?)|non avere regole)",
        "it",
    ),
    # -- Portuguese -----------------------------------------------------------------------
    _p(
        "override_prior_pt",
        0.95,
        r"(?:ignore|esqueca|desconsidere|desative|ignora) ~ (?:instrucoes|regras|orientacoes|diretrizes|politica|filtros|tudo o que foi dito)",
        "pt",
    ),
    _p("reveal_pt", 0.9, r"(?:revele|mostre|me de|diga) ~ (?:prompt|instrucoes|senha)", "pt"),
    _p(
        "no_limits_pt",
        0.6,
        r"(?:sem (?:nenhuma |qualquer )?(?:restricao|filtros?|regras?)|nao tem regras)",
        "pt",
    ),
    # -- Russian (accents stripped: й -> и, ё -> е) ---------------------------------------
    _p(
        "override_prior_ru",
        0.95,
        r"(?:игнорируи|проигнорируи|забудь|не обращаи внимания|отключи|обоиди) ~ (?:инструкци|правил|указани|ограничени|фильтр|политик|все,? что было)",
        "ru",
    ),
    _p(
        "reveal_ru",
        0.9,
        r"(?:покажи|выведи|раскрои|дai|дай|назови) ~ (?:системн|инструкци|пароль|конфиденциальн)",
        "ru",
    ),
    _p(
        "no_limits_ru",
        0.6,
        r"(?:без (?:каких-либо |всяких )?(?:ограничени|фильтр|правил)|нет правил)",
        "ru",
    ),
]

#: Words that make a text worth a closer (embedding) look when no pattern is decisive.
CUES: tuple[str, ...] = (
    "ignor", "disregard", "forget", "overrid", "overwrit", "bypass", "instruction", "prompt",
    "rules", "guideline", "directive", "restrict", "jailbr", "pretend", "roleplay", "role-play",
    "act as", "in character", "persona", "imagine", "hypothetical", "simulat", "uncensor",
    "unfilter", "unrestrict", "developer mode", "god mode", "system message", "admin",
    "confidential", "secret", "password", "verbatim", "reveal", "leak", "content policy",
    "filters", "moral", "ethic", "refus", "from now on", "you are now", "no longer", "obey",
    "credential", "exfiltr", "sandbox", "character", "pwned",
    # fr/de/es/it/pt/ru
    "oublie", "consigne", "regle", "vergiss", "anweisung", "regeln", "olvida", "reglas",
    "instrucc", "dimentica", "istruzion", "regole", "esqueca", "instruc", "regras",
    "игнор", "забудь", "инструкц", "правил", "промпт", "пароль", "фильтр",
)  # fmt: skip


@functools.lru_cache(maxsize=1)
def _prefilter() -> Prefilter:
    """Every pattern's literals, found in one pass (``llmops.guards.literals``)."""
    parts = (lit for p in PATTERNS for _, need in p.parts for lit in need)
    return Prefilter([p.need for p in PATTERNS], parts)


def pattern_score(views: list[str]) -> tuple[float, list[str]]:
    """Return the noisy-OR score of the patterns matched in any view, and their names."""
    hits: dict[str, float] = {}
    for view in views:
        # Exactly the literals with ``lit in view``, and the patterns that can match, in order
        # (the score's product runs in the order of the hits).
        found, candidates = _prefilter().scan(view)
        for pattern in map(PATTERNS.__getitem__, candidates):
            if pattern.name in hits:
                continue
            for rx, need in pattern.parts:
                if (not need or not found.isdisjoint(need)) and rx.search(view) is not None:
                    hits[pattern.name] = pattern.weight
                    break
    miss = 1.0
    for weight in hits.values():
        miss *= 1.0 - weight
    return 1.0 - miss, sorted(hits)


def cue_hits(views: list[str]) -> int:
    """Return how many distinct cue words occur in any view."""
    return sum(1 for cue in CUES if any(cue in view for view in views))
