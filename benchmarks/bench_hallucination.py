"""Are hallucinations caught? Detectors against hand labels on real SmolLM2 answers.

The labelled set (``golden_sets/python-docs-judged.jsonl``) holds answers to the golden questions
with the contexts they were given: real SmolLM2-135M answers (``vars.origin: smollm2``, from
``evals/python-docs-smollm2.yaml``) and constructed ones (``constructed``), each labelled by hand
``supported`` / ``partial`` / ``unsupported`` / ``contradicted`` / ``abstain`` with a reason.
"Unsupported" (the positive class) is any label but ``supported`` and ``abstain``.

Detectors, none of them tuned on this set (their shipped defaults):
- the ``groundedness`` guard (MiniLM sentence support, threshold 0.55): flags when any sentence
  of >= 4 words is unsupported;
- the offline groundedness metric ``llmops.testing.grounding`` (threshold 0.6, as
  ``assert_grounded``): flags when any sentence is below it;
- the hallucination probe (``hallucination`` metric): on unanswerable questions only, flags an
  answer that does not decline;
- the LLM judge, when given a calibration run's results (``--judge-run results.json`` of
  ``evals/judge-calibration.yaml``): flags faithfulness < 1.

Prints ONE JSON document: precision, recall and F1 of "unsupported" per detector, overall and on
the real answers only.

    python benchmarks/bench_hallucination.py [--judge-run .llmops/evals/.../results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

POSITIVE = {"partial", "unsupported", "contradicted"}


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def scores(flags: list[bool], truth: list[bool]) -> dict[str, Any]:
    tp = sum(f and t for f, t in zip(flags, truth, strict=True))
    fp = sum(f and not t for f, t in zip(flags, truth, strict=True))
    fn = sum(t and not f for f, t in zip(flags, truth, strict=True))
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall
        else None
    )
    return {
        "n": len(flags),
        "positives": sum(truth),
        "flagged": sum(flags),
        "precision": None if precision is None else round(precision, 3),
        "recall": None if recall is None else round(recall, 3),
        "f1": None if f1 is None else round(f1, 3),
    }


def detect(records: list[dict[str, Any]], judge: dict[str, float | None]) -> dict[str, list[Any]]:
    from llmops.evals.metrics.behaviour import is_decline
    from llmops.guards.base import CheckContext
    from llmops.guards.grounding import GroundingGuard, GroundingOptions
    from llmops.testing.assertions import grounding

    guard = GroundingGuard("groundedness", None, GroundingOptions())
    out: dict[str, list[Any]] = {"guard": [], "metric": [], "probe": [], "judge": []}
    for r in records:
        answer = r["vars"]["answer"]
        texts = [c["text"] for c in r["vars"]["contexts"]]
        out["guard"].append(
            not guard.check(answer, CheckContext(stage="output", contexts=texts)).passed
        )
        out["metric"].append(any(s < 0.6 for _, s in grounding(answer, texts)))
        out["probe"].append(None if r.get("answerable", True) else not is_decline(answer))
        faith = judge.get(r["id"])
        out["judge"].append(None if faith is None else faith < 1.0)
    return out


def judge_scores(path: Path | None) -> dict[str, float | None]:
    if path is None:
        return {}
    run = json.loads(path.read_text())
    found: dict[str, float | None] = {}
    for row in run["rows"]:
        result = row["metrics"].get("faithfulness")
        if result is not None and result["status"] in ("pass", "fail"):
            found[row["id"]] = result["score"]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default=str(REPO / "golden_sets" / "python-docs-judged.jsonl"))
    parser.add_argument("--judge-run", type=Path, help="results.json of the calibration suite")
    args = parser.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    records = load(Path(args.set))
    truth = [r["labels"]["support"] in POSITIVE for r in records]
    flags = detect(records, judge_scores(args.judge_run))
    doc: dict[str, Any] = {
        "benchmark": "hallucination",
        "set": os.path.relpath(args.set, REPO),
        "items": len(records),
        "labels": {
            k: sum(r["labels"]["support"] == k for r in records)
            for k in ("supported", "partial", "unsupported", "contradicted", "abstain")
        },
        "detectors": {},
    }
    subsets = {
        "all": [True] * len(records),
        "smollm2": [r["vars"]["origin"] == "smollm2" for r in records],
    }
    for name, flagged in flags.items():
        per: dict[str, Any] = {}
        for subset, member in subsets.items():
            keep = [i for i, f in enumerate(flagged) if f is not None and member[i]]
            if keep:
                per[subset] = scores([flagged[i] for i in keep], [truth[i] for i in keep])
        doc["detectors"][name] = per
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
