"""The fusion fit: the sign-constrained solver minimises the same loss as scikit-learn's."""

from __future__ import annotations

import numpy as np

from llmops.guards.learned import FUSE_FEATURES
from llmops.guards.train_fusion import NEGATIVE, fit_fusion


def _data(true_w: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((600, len(FUSE_FEATURES)))
    y = (rng.random(600) < 1 / (1 + np.exp(-(x @ true_w - 0.3)))).astype(np.int64)
    return x, y, rng.uniform(0.5, 2.0, 600)


def test_signed_fit_equals_the_unconstrained_one_when_the_signs_already_hold() -> None:
    signs = np.array([-1.0 if k in NEGATIVE else 1.0 for k in FUSE_FEATURES])
    x, y, sw = _data(signs * np.linspace(0.5, 2.0, len(FUSE_FEATURES)))
    w0, b0 = fit_fusion(x, y, sw, 1.0)
    assert (w0 * signs > 0).all()  # the unconstrained optimum is inside the bounds
    w1, b1 = fit_fusion(x, y, sw, 1.0, signed=True)
    # The same optimum (scikit-learn stops at its tolerance, 1e-4, so not to the last digits) ...
    assert np.allclose(w0, w1, atol=2e-3) and abs(b0 - b1) < 2e-3
    # ... of the same objective: C * sum(sw * log-loss) + ||w||^2 / 2.
    assert _objective(x, y, sw, w1, b1) <= _objective(x, y, sw, w0, b0) + 1e-9


def _objective(x: np.ndarray, y: np.ndarray, sw: np.ndarray, w: np.ndarray, b: float) -> float:
    z = x @ w + b
    return float(sw @ np.logaddexp(0.0, np.where(y == 1, -z, z)) + 0.5 * w @ w)


def test_signed_fit_keeps_every_weight_on_its_side_and_is_deterministic() -> None:
    # Collinear inputs, as the kNN vote and the similarities are: a free fit flips some signs.
    rng = np.random.default_rng(1)
    base = rng.standard_normal(600)
    x = base[:, None] + 0.05 * rng.standard_normal((600, len(FUSE_FEATURES)))
    y = (base > 0).astype(np.int64)
    sw = np.ones(600)
    free, _ = fit_fusion(x, y, sw, 1.0)
    signs = np.array([-1.0 if k in NEGATIVE else 1.0 for k in FUSE_FEATURES])
    assert (free * signs < 0).any()
    w, b = fit_fusion(x, y, sw, 1.0, signed=True)
    assert (w * signs >= 0).all()
    again = fit_fusion(x, y, sw, 1.0, signed=True)
    assert np.array_equal(w, again[0]) and b == again[1]
