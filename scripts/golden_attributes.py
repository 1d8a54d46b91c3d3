"""Derive the slice attributes of the python-docs golden sets from the records themselves.

Two attributes, both read off fields every record already has, so nobody hand-labels them:

- ``area``: where the reference answer lives — ``language`` when the first reference source is
  under ``topics/`` (the language reference topics), ``stdlib`` under ``modules/`` (library
  pages), ``out-of-scope`` for a record with no reference source (the unanswerable questions).
- ``kind``: the question's form, from its first word — ``yes-no`` (Does, Do, Is, Are, Can),
  ``how`` (How), ``what`` (What, Which, When, Where, Who: a fact asked for).

    python scripts/golden_attributes.py --check   # exit 1 if a shipped record disagrees
    python scripts/golden_attributes.py --write   # rewrite the files' attributes in place
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "golden_sets/python-docs.jsonl", ROOT / "golden_sets/python-docs-judged.jsonl"]
AREAS = {"topics": "language", "modules": "stdlib"}
YES_NO = {"does", "do", "is", "are", "can"}
WHAT = {"what", "which", "when", "where", "who"}


def derive(record: dict[str, Any]) -> dict[str, str]:
    """Return the attributes of one golden record."""
    sources = record.get("reference_sources") or []
    area = AREAS[sources[0].split("/", 1)[0]] if sources else "out-of-scope"
    first = str(record["input"]).split()[0].lower()
    if first in YES_NO:
        kind = "yes-no"
    elif first == "how":
        kind = "how"
    elif first in WHAT:
        kind = "what"
    else:
        raise ValueError(f"{record['id']}: no question kind for first word {first!r}")
    return {"kind": kind, "area": area}


def main(argv: list[str]) -> int:
    """Check (default) or rewrite the shipped golden sets' attributes."""
    write = "--write" in argv
    wrong = []
    for path in FILES:
        lines = path.read_text(encoding="utf-8").splitlines()
        out = []
        for number, line in enumerate(lines, 1):
            record = json.loads(line)
            want = derive(record)
            if record.get("attributes") != want:
                wrong.append(f"{path.name}:{number}: {record['id']} should have {want}")
                record["attributes"] = want
            out.append(json.dumps(record, ensure_ascii=False))
        if write:
            path.write_text("\n".join(out) + "\n", encoding="utf-8")
    if wrong and not write:
        print("\n".join(wrong))
        return 1
    print(f"{'rewrote' if write else 'checked'} {len(FILES)} files; {len(wrong)} record(s) changed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
