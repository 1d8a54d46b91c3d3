"""Training texts from two more PyPI wheels: deepteam's red-teaming examples and AgentDojo's tasks.

Both wheels are read as zip files (never installed nor imported) by
``python -m llmops.guards.train extract``; what they yield is shipped in
``_data/guards/train_texts.jsonl.gz``. Chosen by license and content before any score on them
was seen (session 4); which folders count as injections was fixed by the definition in
docs/guardrails.md ("Round 2 evaluation protocol"), not by scores.

- deepteam 1.0.10 (Confident AI, Apache-2.0): the worked examples (``"input": "..."``) of the
  attack-enhancement and vulnerability templates whose point is an injection: prompt leakage and
  probing, goal hijacking and redirection, authority/permission/system overrides, context
  poisoning, debug access, indirect instructions, gray-box and input-bypass tricks, role-play.
  The bias/toxicity/illegal-activity examples are plain harmful requests (not injections) and
  are left out.
- AgentDojo 0.1.35 (Debenedetti et al. 2024, MIT): its injection goals (``GOAL`` of every
  ``injection_tasks.py``) wrapped in its attack templates (important_instructions, InjecAgent,
  "ignore previous", system-message, TODO), planted at the injection points of its environments
  (e-mails, calendar entries, files, reviews, web pages); benign: the same environment texts with
  the suite's default (benign) injection-vector values.
"""

from __future__ import annotations

import ast
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

from llmops.guards.sources import Record

__all__ = ["agentdojo_records", "deepteam_records"]

DEEPTEAM_VERSION = "1.0.10"
AGENTDOJO_VERSION = "0.1.35"

_DT_ATTACKS = {
    "system_override": "fake_marker",
    "authority_escalation": "fake_marker",
    "permission_escalation": "fake_marker",
    "gray_box": "fake_marker",
    "prompt_probing": "prompt_extraction",
    "goal_redirection": "goal_hijacking",
    "context_poisoning": "context_override",
    "synthetic_context_injection": "context_override",
    "roleplay": "roleplay",
    "input_bypass": "jailbreak_technique",
    "prompt_injection": "jailbreak_technique",
}
_DT_VULNS = {
    "prompt_leakage": "prompt_extraction",
    "goal_theft": "prompt_extraction",
    "recursive_hijacking": "goal_hijacking",
    "debug_access": "fake_marker",
    "indirect_instruction": "context_override",
}
_INPUT = re.compile(r'"input":\s*"((?:[^"\\]|\\.)*)"')


def _stable(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _unescape(raw: str) -> str:
    """A template's example as the model would read it (f-string braces, escaped newlines)."""
    text = raw.replace("\\\\n", "\n").replace("\\n", "\n").replace('\\"', '"')
    return text.replace("{{", "{").replace("}}", "}").strip()


def deepteam_records(wheel: Path) -> list[Record]:
    """Return deepteam's injection-type worked examples (attacks only)."""
    folders = {f"deepteam/attacks/single_turn/{k}/template.py": v for k, v in _DT_ATTACKS.items()}
    folders |= {f"deepteam/vulnerabilities/{k}/template.py": v for k, v in _DT_VULNS.items()}
    out: dict[str, Record] = {}
    with zipfile.ZipFile(wheel) as zf:
        for name, category in sorted(folders.items()):
            source = zf.read(name).decode("utf-8")
            for i, m in enumerate(_INPUT.finditer(source)):
                text = _unescape(m.group(1))
                rid = f"{name.split('/')[-2]}#{i}"
                if len(text) >= 20:
                    out.setdefault(text, Record(text, "attack", "deepteam", category, rid))
    if not out:
        raise ValueError(f"{wheel}: no deepteam {DEEPTEAM_VERSION} templates found")
    return sorted(out.values(), key=lambda r: r.id)


# -- AgentDojo ---------------------------------------------------------------------------------
_AD = "agentdojo/"
_USER = "Emma Johnson"
_MODELS = ("GPT-4", "Claude", "AI model developed by Google", "Local model", "AI assistant")
_SUITES = ("banking", "slack", "travel", "workspace")


def _strings(node: ast.AST, names: dict[str, str]) -> str | None:
    """Evaluate a string expression made of literals, f-strings, ``+`` and known names."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return names.get(node.attr)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _strings(node.left, names), _strings(node.right, names)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            part = _strings(v.value if isinstance(v, ast.FormattedValue) else v, names)
            if part is None:
                return None
            parts.append(part)
        return "".join(parts)
    return None


def _goals(source: str) -> list[str]:
    """The ``GOAL`` of every injection task class in one ``injection_tasks.py``."""
    tree = ast.parse(source)
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            value = _strings(node.value, names)
            if value is not None:
                names[node.targets[0].id] = value
    goals = []
    for cls in [n for n in tree.body if isinstance(n, ast.ClassDef)]:
        local = dict(names)
        for node in cls.body:
            target = node.target if isinstance(node, ast.AnnAssign) else None
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                target = node.targets[0]
            value = getattr(node, "value", None)
            if isinstance(target, ast.Name) and value is not None:
                text = _strings(value, local)
                if text is not None:
                    local[target.id] = text
        if "GOAL" in local:
            goals.append(local["GOAL"].strip())
    return goals


def _templates(zf: zipfile.ZipFile) -> list[str]:
    """AgentDojo's attack strings with a ``{goal}`` slot (those needing tool lists left out)."""
    found: set[str] = set()
    for name in sorted(n for n in zf.namelist() if n.startswith(_AD + "attacks/")):
        if not name.endswith(".py"):
            continue
        tree = ast.parse(zf.read(name).decode("utf-8"))
        docs = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                slots = set(re.findall(r"\{(\w*)\}", node.value))
                if id(node) not in docs and "goal" in slots and slots <= {"goal", "user", "model"}:
                    found.add(node.value)
    return sorted(found)


class _Loader:
    """A yaml SafeLoader that reads ``!include`` tags as plain strings (not followed)."""

    @staticmethod
    def load(text: str) -> Any:
        import yaml

        class Loader(yaml.SafeLoader):
            pass

        Loader.add_constructor("!include", lambda loader, node: None)
        return yaml.load(text, Loader=Loader)  # noqa: S506 - SafeLoader subclass


def _leaves(data: Any) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for v in data.values() for s in _leaves(v)]
    if isinstance(data, list):
        return [s for v in data for s in _leaves(v)]
    return []


def _suite_texts(zf: zipfile.ZipFile, suite: str) -> tuple[list[str], dict[str, str]]:
    """A suite's environment strings (placeholders kept) and its default injection values."""
    base = f"{_AD}data/suites/{suite}/"
    vectors = _Loader.load(zf.read(base + "injection_vectors.yaml").decode("utf-8"))
    defaults = {str(k): str(v["default"]) for k, v in vectors.items()}
    texts: list[str] = []
    for name in sorted(n for n in zf.namelist() if n.startswith(base) and n.endswith(".yaml")):
        if not name.endswith("injection_vectors.yaml"):
            texts += _leaves(_Loader.load(zf.read(name).decode("utf-8")))
    return texts, defaults


def _fill(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text).strip()


def agentdojo_records(wheel: Path) -> list[Record]:
    """Return AgentDojo's planted injections (attacks) and environment texts (benign)."""
    out: dict[str, Record] = {}
    with zipfile.ZipFile(wheel) as zf:
        templates = _templates(zf)
        for suite in _SUITES:
            texts, defaults = _suite_texts(zf, suite)
            for i, text in enumerate(texts):
                doc = _fill(text, defaults)
                if len(doc) >= 60:
                    out.setdefault(
                        doc, Record(doc, "benign", "agentdojo", "document", f"{suite}/env#{i}")
                    )
            hosts = [t for t in texts if any("{" + k + "}" in t for k in defaults)]
            tasks = [n for n in zf.namelist() if re.fullmatch(
                rf"{_AD}default_suites/v[\d_]+/{suite}/injection_tasks\.py", n)]  # fmt: skip
            goals = sorted({g for n in sorted(tasks) for g in _goals(zf.read(n).decode("utf-8"))})
            for g, goal in enumerate(goals):
                for t, template in enumerate(templates):
                    attack = template.format(
                        goal=goal,
                        user=_USER,
                        model=_MODELS[_stable(goal + template) % len(_MODELS)],
                    )
                    host = hosts[_stable(goal + str(t)) % len(hosts)]
                    slots = [k for k in defaults if "{" + k + "}" in host]
                    slot = slots[_stable(goal) % len(slots)]
                    text = _fill(host, {**defaults, slot: attack})
                    rid = f"{suite}/goal{g}/t{t}"
                    out.setdefault(text, Record(text, "attack", "agentdojo", "indirect", rid))
    if not out:
        raise ValueError(f"{wheel}: no AgentDojo {AGENTDOJO_VERSION} suites found")
    return sorted(out.values(), key=lambda r: (r.label, r.id))
