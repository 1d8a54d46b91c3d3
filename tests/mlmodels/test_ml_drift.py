"""Drift: PSI/KS/chi-square per feature and overall; the shipped drifted batch vs resamples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from llmops.mlmodels.data import profile_frame
from llmops.mlmodels.drift import measure_drift, psi
from llmops.mlmodels.example import example_frames
from llmops.mlmodels.spec import DriftRule, load_spec

REPO = Path(__file__).resolve().parents[2]
SPEC = load_spec(REPO / "models" / "breast-cancer.yaml")
TRAIN = pd.read_csv(REPO / "models" / "data" / "breast_cancer.csv")
DRIFTED = pd.read_csv(REPO / "models" / "data" / "breast_cancer_drifted.csv")
PROFILE = profile_frame(TRAIN, SPEC.features.numeric, [], "diagnosis")


def test_committed_example_data_is_the_generator_output() -> None:
    train, drifted = example_frames()
    pd.testing.assert_frame_equal(TRAIN, train, check_exact=False, rtol=1e-9)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(DRIFTED, drifted, check_exact=False, rtol=1e-9)  # type: ignore[arg-type]


def test_psi_is_zero_for_equal_and_grows_with_shift() -> None:
    assert psi([0.25] * 4, [0.25] * 4) == pytest.approx(0.0)
    small = psi([0.25] * 4, [0.3, 0.2, 0.25, 0.25])
    large = psi([0.25] * 4, [0.7, 0.1, 0.1, 0.1])
    assert 0 < small < 0.1 < large


def test_drift_detected_on_the_shipped_drifted_batch() -> None:
    report = measure_drift(PROFILE, DRIFTED, SPEC.monitor.drift)
    assert report.fired, report.reason
    shifted = {c for c in SPEC.features.numeric if c.endswith(("radius", "perimeter", "area"))}
    shifted = {c for c in shifted if not c.endswith("_error")} | {"mean_texture", "worst_texture"}
    assert set(report.drifted_features) == shifted
    assert report.overall_psi > 0.2
    by_name = {f.feature: f for f in report.features}
    assert by_name["mean_radius"].test == "ks" and by_name["mean_radius"].p_value < 1e-10
    assert not by_name["mean_smoothness"].drifted  # untouched by the recalibration


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_no_drift_on_a_resample_of_the_training_data(seed: int) -> None:
    sample = TRAIN.sample(n=200, replace=True, random_state=seed)
    report = measure_drift(PROFILE, sample, SPEC.monitor.drift)
    assert not report.fired, report.reason
    assert report.drifted_features == []
    assert report.overall_psi < 0.1


def test_chi_square_on_categorical_features() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"colour": rng.choice(["red", "green", "blue"], 600, p=[0.5, 0.3, 0.2])})
    profile = profile_frame(ref, [], ["colour"], "y")
    same = pd.DataFrame({"colour": rng.choice(["red", "green", "blue"], 300, p=[0.5, 0.3, 0.2])})
    moved = pd.DataFrame({"colour": rng.choice(["red", "green", "teal"], 300, p=[0.2, 0.3, 0.5])})
    rule = DriftRule(max_drifted_share=0.0)
    calm = measure_drift(profile, same, rule)
    assert not calm.fired and calm.features[0].test == "chi2"
    hot = measure_drift(profile, moved, rule)
    assert hot.fired and hot.drifted_features == ["colour"]
    assert hot.features[0].p_value < 1e-6


def test_too_few_rows_never_fire() -> None:
    report = measure_drift(PROFILE, DRIFTED.head(10), SPEC.monitor.drift)
    assert not report.fired
    assert "not enough evidence" in report.reason
