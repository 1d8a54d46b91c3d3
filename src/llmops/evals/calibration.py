"""Judge calibration: how well the judge agrees with human labels on the same items.

A judge metric with ``options.label: faithful`` is compared with each record's
``labels.faithful`` (true/false, "pass"/"fail", or a score >= 0.5 meaning true). Reported per
metric: accuracy, Cohen's kappa, TPR and TNR; ``judge.min_kappa`` turns low agreement into a
failed run, so a judge that drifts away from people is caught.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmops.evals.records import RunResult

__all__ = ["agreement", "calibrate"]


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value) >= 0.5
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("pass", "true", "yes", "1", "faithful", "relevant"):
            return True
        if lowered in ("fail", "false", "no", "0"):
            return False
    return None


def agreement(judge: Sequence[bool], human: Sequence[bool]) -> dict[str, float | int | None]:
    """Return accuracy, Cohen's kappa, TPR and TNR of ``judge`` against ``human``."""
    n = len(judge)
    if n == 0 or n != len(human):
        return {"n": n, "accuracy": None, "kappa": None, "tpr": None, "tnr": None}
    tp = sum(j and h for j, h in zip(judge, human, strict=True))
    tn = sum((not j) and (not h) for j, h in zip(judge, human, strict=True))
    pos, neg = sum(human), n - sum(human)
    accuracy = (tp + tn) / n
    p_judge = sum(judge) / n
    p_human = pos / n
    expected = p_judge * p_human + (1 - p_judge) * (1 - p_human)
    kappa = 1.0 if expected == 1 else (accuracy - expected) / (1 - expected)
    return {
        "n": n,
        "accuracy": round(accuracy, 4),
        "kappa": round(kappa, 4),
        "tpr": round(tp / pos, 4) if pos else None,
        "tnr": round(tn / neg, 4) if neg else None,
    }


def calibrate(run: RunResult) -> dict[str, dict[str, Any]]:
    """Return agreement figures per judge metric that carries human labels."""
    pairs: dict[str, tuple[list[bool], list[bool]]] = {}
    for row in run.rows:
        for name, result in row.metrics.items():
            if "label" not in result.details or result.status not in ("pass", "fail"):
                continue
            human = _as_bool(result.details["label"])
            if human is None:
                continue
            judged, labels = pairs.setdefault(name, ([], []))
            judged.append(result.status == "pass")
            labels.append(human)
    return {name: agreement(j, h) for name, (j, h) in sorted(pairs.items())}
