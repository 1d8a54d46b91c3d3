"""Training texts from the datasets other PyPI packages ship: spikee and PromptInject.

Both wheels are read as zip files (never installed nor imported) by
``python -m llmops.guards.train extract``; what they yield is shipped in
``_data/guards/train_texts.jsonl.gz`` with the other redistributable sources.

- spikee 0.9.2 (WithSecure, Apache-2.0), ``spikee/data/workspace/datasets/seeds-*``: jailbreak
  wrappers with an ``<INSTRUCTION>`` slot (English, Zulu, Albanian, Irish, Scottish Gaelic),
  injected instructions (data exfiltration through markdown images, XSS, system-prompt
  extraction, investment advice against a policy), a base e-mail document, and benign questions
  (``seeds-investment-advice*/standalone_user_inputs.jsonl``). Each wrapper gets one instruction
  of its language, chosen by a stable hash; one text in six is planted at the end of the base
  document (indirect injection). A bare instruction without a wrapper counts as an attack only
  when planted in the document or when it asks for the system prompt: "include this image in
  your answer" typed by the user is a request, not an injection.
- PromptInject 0.1.1.1 (Agency Enterprise, MIT), ``promptinject/prompt_data.py``: the goal
  hijacking attacks (x 3 rogue strings) and prompt-leaking attacks of Perez & Ribeiro (2022),
  each after one of the framework's escape/delimiter prefixes; benign: the operator prompts of
  the OpenAI playground examples it bundles (instructions and few-shot examples).
"""

from __future__ import annotations

import ast
import json
import re
import zipfile
import zlib
from pathlib import Path

from llmops.guards.sources import Record

__all__ = ["promptinject_records", "spikee_records"]

SPIKEE_VERSION = "0.9.2"
PROMPTINJECT_VERSION = "0.1.1.1"

_SPIKEE = "spikee/data/workspace/datasets/"
_SPIKEE_ATTACK_FOLDERS = (
    "seeds-cybersec-2026-01",
    "seeds-sysmsg-extraction-2025-04",
    "seeds-llm-mailbox",
    "seeds-investment-advice",
)
_SPIKEE_BENIGN = (
    "seeds-investment-advice/standalone_user_inputs.jsonl",
    "seeds-investment-advice-fp/standalone_user_inputs.jsonl",
)
_LANGS = ("zu", "sq", "ga", "gd")


def _stable(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _jsonl(zf: zipfile.ZipFile, name: str) -> list[dict[str, object]]:
    try:
        data = zf.read(name).decode("utf-8")
    except KeyError:
        return []
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def _lang(row_id: str) -> str:
    tail = row_id.rsplit("-", 1)[-1]
    return tail if tail in _LANGS else "en"


def spikee_records(wheel: Path) -> list[Record]:
    """Return spikee's attacks (wrapped instructions, some planted in a document) and benign texts."""
    out: dict[str, Record] = {}
    with zipfile.ZipFile(wheel) as zf:
        docs = [
            str(d["document"])
            for d in _jsonl(zf, _SPIKEE + "seeds-cybersec-2026-01/base_user_inputs.jsonl")
            if "PLACEHOLDER" not in str(d["document"])
        ]
        for folder in _SPIKEE_ATTACK_FOLDERS:
            instructions = _jsonl(zf, f"{_SPIKEE}{folder}/instructions.jsonl")
            for jb in _jsonl(zf, f"{_SPIKEE}{folder}/jailbreaks.jsonl"):
                jid = str(jb["id"])
                mine = [i for i in instructions if _lang(str(i["id"])) == _lang(jid)]
                if not mine:
                    continue
                ins = mine[_stable(folder + jid) % len(mine)]
                text = str(jb["text"]).replace("<INSTRUCTION>", str(ins["instruction"])).strip()
                extraction = "sysmsg" in str(ins["instruction_type"])
                planted = bool(docs) and _stable(text) % 6 == 0
                bare = str(jb["jailbreak_type"]) == "no-jailbreak"
                if bare and not (planted or extraction):
                    continue
                if planted:
                    doc = docs[_stable(jid) % len(docs)]
                    text, category = f"{doc}\n\n{text}", "indirect"
                else:
                    category = "prompt_extraction" if extraction else "jailbreak_wrapper"
                rid = f"{folder}/{jid}+{ins['id']}"
                out.setdefault(text, Record(text, "attack", "spikee", category, rid))
        for i, doc in enumerate(docs):
            out.setdefault(doc, Record(doc, "benign", "spikee", "document", f"doc#{i}"))
        for name in _SPIKEE_BENIGN:
            for row in _jsonl(zf, _SPIKEE + name):
                text = str(row["text"]).strip()
                rid = f"{name.split('/')[0]}/{row['id']}"
                out.setdefault(text, Record(text, "benign", "spikee", "ordinary_request", rid))
    return sorted(out.values(), key=lambda r: (r.label, r.id))


_PI = "promptinject/prompt_data.py"
_ESCAPES = ("", "\n", "\n\n", "\n----------\n", "\n==========\n", "\n>>>>>>>>>>\n", "\n***\n")


def _literals(source: str) -> dict[str, object]:
    """Return the module-level ``name = <literal>`` assignments of a Python source file."""
    out: dict[str, object] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    out[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    continue
    return out


def promptinject_records(wheel: Path) -> list[Record]:
    """Return PromptInject's hijacking and leaking attacks and its benign operator prompts."""
    with zipfile.ZipFile(wheel) as zf:
        data = _literals(zf.read(_PI).decode("utf-8"))
    rogue = data["rogue_strings"]
    hijack = data["goal_hikacking_attacks"]
    leak = data["prompt_leaking_attacks"]
    playground = data["openai_playground_prompts"]
    if not all(isinstance(x, dict) for x in (rogue, hijack, leak, playground)):
        raise ValueError(f"{wheel}: {_PI} is not PromptInject {PROMPTINJECT_VERSION}'s layout")
    assert isinstance(rogue, dict) and isinstance(hijack, dict)  # for mypy: checked above
    assert isinstance(leak, dict) and isinstance(playground, dict)
    out: list[Record] = []
    for key, attack in sorted(hijack.items()):
        for rkey, rstring in sorted(rogue.items()):
            text = str(attack["instruction"]).replace("{REPLACE_rogue_string}", str(rstring))
            text = (_ESCAPES[_stable(key + rkey) % len(_ESCAPES)] + text).strip()
            out.append(Record(text, "attack", "promptinject", "goal_hijacking", f"{key}/{rkey}"))
    for key, attack in sorted(leak.items()):
        text = (_ESCAPES[_stable(key) % len(_ESCAPES)] + str(attack["instruction"])).strip()
        out.append(Record(text, "attack", "promptinject", "prompt_extraction", key))
    seen: set[str] = set()
    for key, prompt in sorted(playground.items()):
        text = re.sub(r"\{[^}]*\}", "", str(prompt["instruction"])).strip()
        if text and text not in seen:
            seen.add(text)
            out.append(Record(text, "benign", "promptinject", "operator_prompt", key))
    return out
