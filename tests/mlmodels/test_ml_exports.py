"""Importing llmops.mlmodels loads nothing heavy (its __all__ is pinned in tests/core)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_import_loads_no_heavy_library() -> None:
    heavy = ["mlflow", "sklearn", "pandas", "numpy", "scipy", "fastapi"]
    code = (
        "import sys, json, llmops.mlmodels, llmops.cli.model_cmd; "
        f"print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_estimator_and_metric_registries_are_extensible() -> None:
    from llmops.errors import ConfigError
    from llmops.mlmodels import (
        Metric,
        get_metric,
        register_estimator,
        register_metric,
        resolve_estimator,
    )

    register_estimator("MyTree", "sklearn.tree.DecisionTreeClassifier")
    assert resolve_estimator("MyTree").__name__ == "DecisionTreeClassifier"
    assert resolve_estimator("sklearn.svm.SVC").__name__ == "SVC"
    register_metric(Metric("always_one", "classification", lambda y, p, s, pos: 1.0))
    assert get_metric("always_one", "classification").higher_is_better
    try:
        resolve_estimator("sklearn.nope.Thing")
    except ConfigError as exc:
        assert exc.message == "cannot import estimator 'sklearn.nope.Thing'"
    else:
        raise AssertionError("expected ConfigError")
