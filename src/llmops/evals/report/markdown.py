"""The Markdown summary for pull requests (``$GITHUB_STEP_SUMMARY`` when set)."""

from __future__ import annotations

from llmops.evals.records import MetricSummary, RunResult

__all__ = ["to_markdown"]

ICON = {"pass": "✅ pass", "fail": "❌ fail", "error": "⚠️ error", "skipped": "⏭️ skipped"}


def _f(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _ci(m: MetricSummary) -> str:
    if m.diff is None or m.ci_low is None or m.ci_high is None:
        return "–"
    return f"{m.diff:+.3f} [{m.ci_low:+.3f}, {m.ci_high:+.3f}]"


def to_markdown(run: RunResult, *, report_path: str | None = None) -> str:
    """Return the run's summary as Markdown."""
    verdict = "✅ passed" if run.passed else "❌ failed"
    lines = [f"## llmops eval: `{run.suite}` — {verdict}", ""]
    lineage = run.lineage
    facts = [f"{run.items} items × {run.repeats} repeat(s)"]
    if lineage.prompt:
        facts.append(f"prompt `{lineage.prompt.ref}`")
    if lineage.index:
        facts.append(f"index `{lineage.index.pipeline}@{lineage.index.index_version}`")
    if lineage.upstream_model:
        facts.append(f"model `{lineage.upstream_model}`")
    if lineage.dataset_hash:
        facts.append(f"dataset `{lineage.dataset_hash[:12]}`")
    calls = run.calls
    facts.append(
        f"{calls.model_calls} model calls, cache hit rate {calls.hit_rate:.0%}, {run.wall_s:.1f} s"
    )
    if run.partial:
        facts.append("**partial run (interrupted)**")
    lines += [" · ".join(facts), ""]
    lines += [
        "| metric | mean | pass rate | threshold | baseline | Δ [CI] | status |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for m in run.metrics:
        status = ICON.get(m.status, m.status)
        lines.append(
            f"| {m.name} | {_f(m.mean)} | {_f(m.pass_rate)} | {m.threshold:g} | "
            f"{_f(m.baseline_mean)} | {_ci(m)} | {status} |"
        )
    notes = [f"- **{m.name}**: {r}" for m in run.metrics for r in m.reasons if m.status != "pass"]
    if notes:
        lines += ["", *notes]
    if run.flaky:
        lines += ["", f"**Flaky items** ({len(run.flaky)}):", ""]
        for f in run.flaky[:20]:
            lines.append(
                f"- `{f.id}` on {f.metric}: {' → '.join(f.verdicts)} (flip rate {f.flip_rate:.0%})"
            )
    if run.calibration:
        lines += ["", "**Judge calibration** (vs human labels):", ""]
        for name, c in run.calibration.items():
            lines.append(
                f"- {name}: n={c.get('n')}, accuracy {_f(c.get('accuracy'))}, "
                f"kappa {_f(c.get('kappa'))}, TPR {_f(c.get('tpr'))}, TNR {_f(c.get('tnr'))}"
            )
    if report_path:
        lines += ["", f"Report: `{report_path}`"]
    return "\n".join(lines) + "\n"
