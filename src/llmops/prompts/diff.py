"""What changed between two prompt versions: templates as unified diffs, everything else by key."""

from __future__ import annotations

import difflib
import json
from typing import Any

from pydantic import BaseModel

from llmops.prompts.version import PromptVersion

__all__ = ["Change", "PromptDiff", "diff_versions"]

_MISSING = object()


class Change(BaseModel):
    """One changed key; ``diff`` holds a unified diff for templates."""

    key: str
    kind: str  # added | removed | changed
    before: Any = None
    after: Any = None
    diff: str | None = None


class PromptDiff(BaseModel):
    """Changes from ``a`` to ``b`` (resolved refs, e.g. ``rag-answer@1``)."""

    a: str
    b: str
    a_hash: str
    b_hash: str
    changes: list[Change]

    @property
    def is_empty(self) -> bool:
        """Return True when the two versions have the same content."""
        return not self.changes

    def to_text(self) -> str:
        """Return a human-readable diff."""
        lines = [f"--- {self.a}", f"+++ {self.b}"]
        if not self.changes:
            lines.append("(no changes: same content hash)")
        for change in self.changes:
            if change.diff is not None:
                lines.append(f"~ {change.key}:")
                lines.extend("    " + line for line in change.diff.splitlines())
            elif change.kind == "added":
                lines.append(f"+ {change.key}: {_show(change.after)}")
            elif change.kind == "removed":
                lines.append(f"- {change.key}: {_show(change.before)}")
            else:
                lines.append(f"~ {change.key}: {_show(change.before)} -> {_show(change.after)}")
        return "\n".join(lines)


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    # A variable's spec and a response_format read best whole: one line per variable.
    whole = prefix.startswith("variables.") or prefix == "params.response_format"
    if isinstance(value, dict) and value and not whole:
        for key, sub in value.items():
            _flatten(sub, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = value


def _templates(version: PromptVersion) -> dict[str, str]:
    out: dict[str, str] = {}
    if version.file.template is not None:
        out["template"] = version.file.template
    for i, message in enumerate(version.file.messages or []):
        out[f"messages[{i}].role"] = message.role
        out[f"messages[{i}].content"] = message.content
    return out


def _change(key: str, before: Any, after: Any, refs: tuple[str, str] | None = None) -> list[Change]:
    """Return the change at ``key`` (none when equal); ``refs`` asks for a unified text diff."""
    if before == after:
        return []
    if before is _MISSING:
        return [Change(key=key, kind="added", after=after)]
    if after is _MISSING:
        return [Change(key=key, kind="removed", before=before)]
    unified = None
    if refs is not None:
        lines = difflib.unified_diff(
            str(before).splitlines(), str(after).splitlines(), *refs, lineterm="", n=2
        )
        unified = "\n".join(lines)
    return [Change(key=key, kind="changed", before=before, after=after, diff=unified)]


def diff_versions(a: PromptVersion, b: PromptVersion) -> PromptDiff:
    """Return the changes from version ``a`` to version ``b``."""
    changes: list[Change] = []
    ta, tb = _templates(a), _templates(b)
    for key in sorted(set(ta) | set(tb), key=lambda k: (k.split("]")[0], k)):
        refs = (a.ref, b.ref) if key.endswith("content") or key == "template" else None
        changes += _change(key, ta.get(key, _MISSING), tb.get(key, _MISSING), refs)
    fa: dict[str, Any] = {}
    fb: dict[str, Any] = {}
    for version, flat in ((a, fa), (b, fb)):
        semantic = version.file.semantic()
        semantic.pop("messages", None)
        semantic.pop("template", None)
        _flatten(semantic, "", flat)
    for key in sorted(set(fa) | set(fb)):
        changes += _change(key, fa.get(key, _MISSING), fb.get(key, _MISSING))
    return PromptDiff(
        a=a.ref, b=b.ref, a_hash=a.content_hash, b_hash=b.content_hash, changes=changes
    )
