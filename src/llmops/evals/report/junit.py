"""JUnit XML: one test case per item x metric, so CI shows exactly what failed, and one per
slice check (``<suite>.slices.<rule>``, named ``metric on by=value``): a failed check is a
failure naming the slice, a slice with too few items is skipped with its n."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from llmops.evals.records import RunResult

__all__ = ["to_junit"]

#: status -> (the count it adds to, the element it adds), for an item's metric or a slice check
_OUTCOMES = {
    "fail": ("failures", "failure"),
    "error": ("errors", "error"),
    "skipped": ("skipped", "skipped"),
    "too few items": ("skipped", "skipped"),
}


def _case(counts: dict[str, int], classname: str, name: str, seconds: float) -> ET.Element:
    counts["tests"] += 1
    return ET.Element("testcase", {"classname": classname, "name": name, "time": f"{seconds:.3f}"})


def _outcome(
    case: ET.Element, counts: dict[str, int], status: str, message: str
) -> ET.Element | None:
    """Count ``status`` and add its element to ``case``; return it (None for a pass)."""
    if status not in _OUTCOMES:
        return None
    count, tag = _OUTCOMES[status]
    counts[count] += 1
    return ET.SubElement(case, tag, {"message": message})


def to_junit(run: RunResult) -> str:
    """Return the run as a JUnit XML document (one testsuite per run)."""
    cases = []
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for row in run.rows:
        for name, result in row.metrics.items():
            if result.status == "n/a":
                continue
            suffix = f"#r{row.repeat}" if run.repeats > 1 else ""
            case = _case(
                counts, f"{run.suite}.{name}", f"{row.id}{suffix}", row.output.latency_ms / 1000.0
            )
            score = "" if result.score is None else f"score={result.score:.3f} "
            failed = result.status == "fail"  # a failure shows the score, the input, the answer
            node = _outcome(
                case,
                counts,
                result.status,
                f"{score}{result.reason}".strip() if failed else result.reason,
            )
            if failed and node is not None:
                node.text = f"input: {row.input}\nanswer: {row.output.answer}"
            cases.append(case)
    for check in run.slices.checks if run.slices is not None else []:
        name = f"{check.metric} on {check.label} (n={check.n})"
        case = _case(counts, f"{run.suite}.slices.{check.rule}", name, 0.0)
        _outcome(case, counts, check.status, check.reason)
        cases.append(case)
    suite = ET.Element(
        "testsuite",
        {
            "name": run.suite,
            "timestamp": run.started_at,
            "time": f"{run.wall_s:.3f}",
            **{k: str(v) for k, v in counts.items()},
        },
    )
    suite.extend(cases)
    root = ET.Element("testsuites", {k: str(v) for k, v in counts.items()})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
