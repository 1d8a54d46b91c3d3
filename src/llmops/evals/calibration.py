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

__all__ = ["agreement", "calibrate", "confusion_cells", "labelled_verdicts"]


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
    tp, fn, fp, tn = confusion_cells(judge, human)
    pos, neg = tp + fn, fp + tn
    accuracy = (tp + tn) / n
    kappa = _kappa(judge, human)
    return {
        "n": n,
        "accuracy": round(accuracy, 4),
        "kappa": round(kappa, 4),
        "tpr": round(tp / pos, 4) if pos else None,
        "tnr": round(tn / neg, 4) if neg else None,
    }


def confusion_cells(judge: Sequence[bool], human: Sequence[bool]) -> tuple[int, int, int, int]:
    """Return (tp, fn, fp, tn) of ``judge`` against ``human`` (the truth), by scikit-learn."""
    from sklearn.metrics import confusion_matrix

    cells = confusion_matrix(list(human), list(judge), labels=[True, False]).ravel()
    return int(cells[0]), int(cells[1]), int(cells[2]), int(cells[3])


def _kappa(judge: Sequence[bool], human: Sequence[bool]) -> float:
    """Cohen's kappa by scikit-learn; 1.0 when both raters gave one and the same label."""
    from sklearn.metrics import cohen_kappa_score

    if len(set(judge) | set(human)) == 1:  # expected agreement 1: kappa is 0/0
        return 1.0
    return float(cohen_kappa_score(list(human), list(judge)))


def calibrate(run: RunResult) -> dict[str, dict[str, Any]]:
    """Return agreement figures per judge metric that carries human labels."""
    return {name: agreement(j, h) for name, (j, h) in sorted(labelled_verdicts(run).items())}


def labelled_verdicts(run: RunResult) -> dict[str, tuple[list[bool], list[bool]]]:
    """Return per judge metric the judge's pass/fail verdicts and the human labels, item by item
    (only decided items whose record carries a label)."""
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
    return pairs
