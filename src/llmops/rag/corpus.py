"""The sample corpus: the Python Language Reference topics and standard-library docstrings.

Every Python install has both (``pydoc_data.topics`` and the modules' docstrings) and nobody
here wrote them. ``export_python_docs`` writes them as Markdown files — ``topics/<name>.md``
and ``modules/<name>.md`` — under ``<state>/corpus/python-docs`` (or any folder); the shipped
pipeline ``rag_pipelines/python-docs.yaml`` indexes that folder. Nothing is committed: the
export is regenerated from the running interpreter.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path

from llmops.atomic import atomic_write_text

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")

__all__ = ["SAMPLE_MODULES", "export_python_docs"]

#: Standard-library modules whose docstrings join the topics (about 1,700 chunks in all).
SAMPLE_MODULES: tuple[str, ...] = (
    "abc", "argparse", "base64", "bisect", "calendar", "collections", "contextlib", "copy",
    "csv", "dataclasses", "datetime", "decimal", "difflib", "enum", "fractions", "functools",
    "glob", "gzip", "hashlib", "heapq", "hmac", "html", "itertools", "json", "logging",
    "math", "operator", "os.path", "pathlib", "pickle", "pprint", "queue", "random", "re",
    "secrets", "shlex", "shutil", "statistics", "string", "struct", "subprocess", "tempfile",
    "textwrap", "threading", "time", "timeit", "typing", "unittest", "urllib.parse", "uuid",
    "warnings", "weakref", "zipfile", "zlib",
)  # fmt: skip

_UNDERLINES = {"*": "#", "=": "##", "-": "###", "~": "####", "^": "####"}


def _topic_markdown(name: str, text: str) -> str:
    """Turn a pydoc topic (titles underlined with * = -) into Markdown headings."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        mark = nxt.strip()[:1]
        if (
            line.strip()
            and not line.startswith(" ")
            and len(nxt.strip()) >= 3
            and set(nxt.strip()) == {mark}
            and mark in _UNDERLINES
        ):
            out.append(f"{_UNDERLINES[mark]} {line.strip()}")
            i += 2
            continue
        out.append(line)
        i += 1
    body = "\n".join(out).strip()
    return f"---\ntopic: {name}\nkind: language-reference\n---\n{body}\n"


def _member_docs(module: object, modname: str) -> list[str]:
    parts: list[str] = []
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    for name in sorted(set(names)):
        obj = getattr(module, name, None)
        if obj is None or not (
            inspect.isfunction(obj) or inspect.isclass(obj) or inspect.isbuiltin(obj)
        ):
            continue
        if getattr(obj, "__module__", modname) not in (
            modname,
            f"_{modname}",
            modname.split(".")[0],
        ):
            continue
        doc = inspect.getdoc(obj)
        if not doc:
            continue
        try:
            # Default values print as "<object at 0x7f...>": drop the address so the exported
            # corpus is byte-identical across runs (otherwise every run re-embeds those files).
            sig = _ADDRESS.sub("", str(inspect.signature(obj)))
        except (TypeError, ValueError):
            sig = ""
        kind = "class" if inspect.isclass(obj) else "function"
        parts.append(f"## {modname}.{name}\n\n{kind} `{name}{sig}`\n\n{doc.strip()}\n")
        if inspect.isclass(obj):
            for mname, member in sorted(vars(obj).items()):
                if mname.startswith("_") or not callable(member):
                    continue
                mdoc = inspect.getdoc(member)
                if mdoc:
                    parts.append(f"### {name}.{mname}\n\n{mdoc.strip()}\n")
    return parts


def _module_markdown(modname: str) -> str | None:
    try:
        module = importlib.import_module(modname)
    except ImportError:
        return None
    doc = inspect.getdoc(module) or ""
    body = [f"# {modname}\n\n{doc.strip()}\n", *_member_docs(module, modname)]
    text = "\n".join(body)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return f"---\nmodule: {modname}\nkind: stdlib-docstrings\n---\n{text.strip()}\n"


def export_python_docs(
    dest: Path, *, topics: list[str] | None = None, modules: list[str] | None = None
) -> dict[str, int]:
    """Write the sample corpus under ``dest``; return counts of topic and module files."""
    from pydoc_data.topics import topics as all_topics

    dest = Path(dest)
    wanted = sorted(all_topics) if topics is None else topics
    n_topics = 0
    for name in wanted:
        text = all_topics.get(name)
        if text is None:
            continue
        target = dest / "topics" / f"{name}.md"
        content = _topic_markdown(name, text)
        if not target.is_file() or target.read_text(encoding="utf-8") != content:
            atomic_write_text(target, content)  # unchanged files keep their mtime and hash
        n_topics += 1
    n_modules = 0
    for modname in SAMPLE_MODULES if modules is None else modules:
        module_text = _module_markdown(modname)
        if module_text is None:
            continue
        target = dest / "modules" / f"{modname}.md"
        if not target.is_file() or target.read_text(encoding="utf-8") != module_text:
            atomic_write_text(target, module_text)
        n_modules += 1
    (dest / "VERSION").write_text(f"python {sys.version.split()[0]}\n", encoding="utf-8")
    return {"topics": n_topics, "modules": n_modules}
