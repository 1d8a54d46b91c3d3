"""Fit the injection guard's calibration on the TRAINING split only.

Writes ``src/llmops/_data/guards/injection_calibration.json``: a logistic model over
(pattern score, attack similarity, benign similarity) and the decision threshold with the best
threshold keeping training TPR >= ``MIN_TPR`` (training FPR must stay <= ``MAX_FPR``). Corpus entries identical to a text are left out when
scoring that text, so training texts do not find themselves.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from llmops.guards.injection import InjectionOptions, _feature_vector, injection_features

HERE = Path(__file__).resolve().parent
OUT = HERE.parents[2] / "src" / "llmops" / "_data" / "guards" / "injection_calibration.json"
MAX_FPR = 0.02
MIN_TPR = 0.97


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    rows = [json.loads(line) for line in (HERE / "injection.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["split"] == "train"]
    opts = InjectionOptions()
    feats = [injection_features(r["text"], opts, leave_one_out=True) for r in train]
    labels = [1 if r["label"] == "attack" else 0 for r in train]
    xs = [_feature_vector(f) for f in feats if f["embedded"]]
    ys = [y for f, y in zip(feats, labels, strict=True) if f["embedded"]]
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000).fit(xs, ys)
    coef = [float(c) for c in model.coef_[0]]
    intercept = float(model.intercept_[0])

    def score(f: dict[str, Any]) -> float:
        if not f["embedded"]:
            return float(f["pattern"])
        z = intercept + sum(c * x for c, x in zip(coef, _feature_vector(f), strict=True))
        return 1 / (1 + math.exp(-z))

    scores = [score(f) for f in feats]
    neg = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    pos = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    # Operating point: the HIGHEST threshold that still keeps training TPR >= MIN_TPR (a margin
    # over the 0.95 target), so every bit of slack goes to fewer false positives.
    candidates = sorted(set(scores), reverse=True)
    chosen = 0.5
    for t in candidates:
        tpr = sum(s >= t for s in pos) / len(pos)
        if tpr >= MIN_TPR:
            chosen = t
            break
    lower = [s for s in scores if s < chosen]
    threshold = round((chosen + max(lower)) / 2, 4) if lower else chosen
    tpr = sum(s >= threshold for s in pos) / len(pos)
    fpr = sum(s >= threshold for s in neg) / len(neg)
    if fpr > MAX_FPR:
        raise SystemExit(f"training FPR {fpr:.3f} > {MAX_FPR} at TPR {tpr:.3f}: improve the guard")
    OUT.write_text(
        json.dumps(
            {
                "coef": coef,
                "intercept": intercept,
                "threshold": threshold,
                "train_tpr": tpr,
                "train_fpr": fpr,
                "fitted_on": "train split",
            },
            indent=2,
        )
        + "\n"
    )
    print(
        f"coef={coef} intercept={intercept:.3f} threshold={threshold} train TPR={tpr:.3f} FPR={fpr:.3f}"
    )


if __name__ == "__main__":
    main()
