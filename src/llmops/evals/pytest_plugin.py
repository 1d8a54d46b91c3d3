"""pytest plugin: ``pytest evals/`` collects eval suites as tests.

Each suite file under a folder named ``evals`` becomes a collector; each of its metrics becomes
one test that passes when the metric passes the gate (thresholds, minimums and the regression
check against the committed baseline). The suite runs once per session, through the same
cache as ``llmops eval run``. Metrics skipped for lack of a judge are reported as skipped.

Opt-in: enable with ``-p llmops.evals.pytest_plugin`` on the command line, or once for a project
with ``addopts = "-p llmops.evals.pytest_plugin"`` in its pytest ini. Installing llmops does not
load it into anyone's pytest runs (no ``pytest11`` entry point).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["EvalMetricFailedError", "MetricItem", "SuiteFile", "pytest_collect_file"]


class EvalMetricFailedError(Exception):
    """A metric of an eval suite did not pass its gate."""


def _is_suite(path: Path) -> bool:
    if path.suffix not in (".yaml", ".yml") or "evals" not in path.parent.parts:
        return False
    if "baselines" in path.parts:
        return False
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "target" in data and "metrics" in data


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect suite files."""
    if _is_suite(file_path):
        return SuiteFile.from_parent(parent, path=file_path)
    return None


class SuiteFile(pytest.File):
    """One suite file; runs the suite on first use."""

    _result: Any = None
    _error: BaseException | None = None

    def collect(self) -> Iterator[pytest.Item]:
        """Yield one item per metric."""
        from llmops.evals.suite import load_suite

        suite = load_suite(self.path)
        for spec in suite.metrics:
            yield MetricItem.from_parent(self, name=spec.name, metric=spec.name)

    def result(self) -> Any:
        """Run the suite once and return its RunResult."""
        if self._error is not None:
            raise self._error
        if self._result is None:
            from llmops.config import load_settings
            from llmops.evals.runner import RunOptions, run_suite

            try:
                suite_module = __import__("llmops.evals.suite", fromlist=["load_suite"])
                suite = suite_module.load_suite(self.path)
                self._result = run_suite(
                    suite, load_settings(self.path.parent), RunOptions(yes=False)
                )
            except BaseException as exc:
                self._error = exc
                raise
        return self._result


class MetricItem(pytest.Item):
    """One metric of a suite."""

    def __init__(self, *, metric: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metric = metric

    def runtest(self) -> None:
        """Fail unless the metric passed the gate."""
        parent = self.parent
        if not isinstance(parent, SuiteFile):  # pragma: no cover - always a SuiteFile
            raise TypeError("MetricItem must live in a SuiteFile")
        run = parent.result()
        summary = next(m for m in run.metrics if m.name == self.metric)
        if summary.status == "skipped":
            pytest.skip("; ".join(summary.reasons) or "skipped")
        if summary.status != "pass":
            mean = "n/a" if summary.mean is None else f"{summary.mean:.3f}"
            raise EvalMetricFailedError(
                f"{self.metric} {summary.status} (mean {mean}): " + "; ".join(summary.reasons)
            )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """Show the gate's reasons instead of a traceback."""
        if isinstance(excinfo.value, EvalMetricFailedError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Point at the suite file."""
        return self.path, None, f"{self.path.name}::{self.metric}"
