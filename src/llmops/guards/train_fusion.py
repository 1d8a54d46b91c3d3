"""The injection guard's fusion fit: logistic regression, optionally with sign-constrained weights.

Unconstrained, the fusion is scikit-learn's ``LogisticRegression`` (L2, ``C``). Collinear inputs
(the kNN vote, the two similarities, the doc and window logits) can then trade weights into
signs that make no sense (round 4: kNN vote -2.04, benign similarity +0.33); ``signed`` fits the
same penalised, weighted log-loss, ``C * sum(w_i * logloss_i) + ||coef||^2 / 2``, with every
input's weight >= 0 except the benign similarity's (<= 0), by L-BFGS-B (deterministic).
"""

from __future__ import annotations

from typing import Any

from llmops.guards.learned import FUSE_FEATURES

__all__ = ["NEGATIVE", "fit_fusion"]

#: Fusion inputs that can only lower the score when the weights are sign-constrained.
NEGATIVE = frozenset({"sim_benign"})


def fit_fusion(x: Any, y: Any, sw: Any, c: float, signed: bool = False) -> tuple[Any, float]:
    """Return (weights, bias) of the fusion fitted on inputs ``x`` (columns: FUSE_FEATURES)."""
    import numpy as np

    if not signed:
        from sklearn.linear_model import LogisticRegression

        fitted = LogisticRegression(C=c, max_iter=3000).fit(x, y, sample_weight=sw)
        return fitted.coef_[0], float(fitted.intercept_[0])
    from scipy.optimize import minimize

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    sw = np.asarray(sw, dtype=np.float64)
    n = x.shape[1]

    def loss(theta: Any) -> tuple[float, Any]:
        w, b = theta[:n], theta[n]
        z = x @ w + b
        log_loss = np.logaddexp(0.0, np.where(y == 1, -z, z))
        g = sw * (1.0 / (1.0 + np.exp(-z)) - y)
        value = c * float(sw @ log_loss) + 0.5 * float(w @ w)
        return value, np.concatenate([c * (x.T @ g) + w, [c * g.sum()]])

    bounds = [(None, 0.0) if k in NEGATIVE else (0.0, None) for k in FUSE_FEATURES]
    res = minimize(
        loss, np.zeros(n + 1), jac=True, method="L-BFGS-B", bounds=[*bounds, (None, None)],
        options={"maxiter": 3000, "ftol": 1e-12, "gtol": 1e-8},
    )  # fmt: skip
    return res.x[:n], float(res.x[n])
