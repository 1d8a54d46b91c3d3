"""Writers for a finished run: results JSON, baseline, JUnit XML, Markdown summary, HTML."""

from llmops.evals.report.files import baseline_from_run, write_baseline, write_outputs
from llmops.evals.report.html import to_html
from llmops.evals.report.junit import to_junit
from llmops.evals.report.markdown import to_markdown

__all__ = [
    "baseline_from_run",
    "to_html",
    "to_junit",
    "to_markdown",
    "write_baseline",
    "write_outputs",
]
