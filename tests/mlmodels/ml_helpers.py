"""Shared data for the classic-ML tests (a module with a unique name: conftest is not importable)."""

from __future__ import annotations

import json
from pathlib import Path

from llmops.mlmodels.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "models"

# A fast variant of the worked example (same data, a linear model, no search) for the many
# lifecycle tests; the shipped spec itself runs once, end to end.
FAST_SPEC = """\
name: bc
task: classification
dataset: {{path: data/breast_cancer.csv}}
target: diagnosis
positive_class: malignant
features:
  numeric: {numeric}
estimator:
  name: LogisticRegression
  params: {{max_iter: 3000}}
metrics: [accuracy, f1, roc_auc]
split: {{test_size: 0.25, seed: 42}}
thresholds: {{accuracy: 0.9}}
promotion: {{metric: accuracy, margin: 0.01}}
validation:
  max_missing: 0.05
  ranges: {{mean_radius: [0, 60]}}
monitor:
  retrain: {{enabled: true, data: batch}}
"""

FAST_SPEC = FAST_SPEC.format(
    numeric=json.dumps(load_spec(EXAMPLE / "breast-cancer.yaml").features.numeric)
)
