"""JUnit XML: one test case per item x metric, so CI shows exactly what failed, and one per
slice check (``<suite>.slices.<rule>``, named ``metric on by=value``): a failed check is a
failure naming the slice, a slice with too few items is skipped with its n."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from llmops.evals.records import RunResult

__all__ = ["to_junit"]


def to_junit(run: RunResult) -> str:
    """Return the run as a JUnit XML document (one testsuite per run)."""
    cases = []
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for row in run.rows:
        for name, result in row.metrics.items():
            if result.status == "n/a":
                continue
            counts["tests"] += 1
            suffix = f"#r{row.repeat}" if run.repeats > 1 else ""
            case = ET.Element(
                "testcase",
                {
                    "classname": f"{run.suite}.{name}",
                    "name": f"{row.id}{suffix}",
                    "time": f"{row.output.latency_ms / 1000.0:.3f}",
                },
            )
            score = "" if result.score is None else f"score={result.score:.3f} "
            if result.status == "fail":
                counts["failures"] += 1
                node = ET.SubElement(
                    case, "failure", {"message": f"{score}{result.reason}".strip()}
                )
                node.text = f"input: {row.input}\nanswer: {row.output.answer}"
            elif result.status == "error":
                counts["errors"] += 1
                ET.SubElement(case, "error", {"message": result.reason})
            elif result.status == "skipped":
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", {"message": result.reason})
            cases.append(case)
    for check in run.slices.checks if run.slices is not None else []:
        counts["tests"] += 1
        case = ET.Element(
            "testcase",
            {
                "classname": f"{run.suite}.slices.{check.rule}",
                "name": f"{check.metric} on {check.label} (n={check.n})",
                "time": "0.000",
            },
        )
        if check.status == "fail":
            counts["failures"] += 1
            ET.SubElement(case, "failure", {"message": check.reason})
        elif check.status == "too few items":
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", {"message": check.reason})
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
