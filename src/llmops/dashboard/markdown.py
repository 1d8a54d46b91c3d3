"""The Markdown view of the dashboard document: the pull-request comment and step summary."""

from __future__ import annotations

from typing import Any

__all__ = ["render_markdown"]

ICON = {"pass": "✅ pass", "fail": "❌ fail", "error": "⚠️ error", "skipped": "⏭️ skipped"}


def _f(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _ci(diff: float | None, low: float | None, high: float | None) -> str:
    if diff is None or low is None or high is None:
        return "–"
    return f"{diff:+.3f} [{low:+.3f}, {high:+.3f}]"


def _facts(run: dict[str, Any]) -> str:
    lineage = run.get("lineage") or {}
    facts = [f"{run['items']} items × {run['repeats']} repeat(s)"]
    if lineage.get("prompt"):
        facts.append(f"prompt `{lineage['prompt']['name']}@{lineage['prompt']['version']}`")
    if lineage.get("index"):
        index = lineage["index"]
        facts.append(f"index `{index['pipeline']}@{index['index_version']}`")
    if lineage.get("upstream_model"):
        facts.append(f"model `{lineage['upstream_model']}`")
    if lineage.get("dataset_hash"):
        facts.append(f"dataset `{lineage['dataset_hash'][:12]}`")
    calls = run.get("calls") or {}
    model_calls = int(calls.get("target_calls", 0)) + int(calls.get("judge_calls", 0))
    facts.append(
        f"{model_calls} model calls, cache hit rate {float(calls.get('hit_rate', 0.0)):.0%}, "
        f"{float(run.get('wall_s', 0.0)):.1f} s"
    )
    if run.get("partial"):
        facts.append("**partial run (interrupted)**")
    return " · ".join(facts)


def _suite(payload: dict[str, Any], suite: dict[str, Any]) -> list[str]:
    run = payload["runs"][suite["items_run"]]
    verdict = "✅ passed" if run.get("passed") else "❌ failed"
    lines = [f"## llmops eval: `{suite['name']}` — {verdict}", "", _facts(run), ""]
    lines += [
        "| metric | mean | pass rate | threshold | baseline | Δ [CI] | status |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for m in run["metrics"]:
        lines.append(
            f"| {m['name']} | {_f(m.get('mean'))} | {_f(m.get('pass_rate'))} | "
            f"{m['threshold']:g} | {_f(m.get('baseline_mean'))} | "
            f"{_ci(m.get('diff'), m.get('ci_low'), m.get('ci_high'))} | "
            f"{ICON.get(m['status'], m['status'])} |"
        )
    notes = [
        f"- **{m['name']}**: {r}"
        for m in run["metrics"]
        for r in m.get("reasons") or []
        if m["status"] != "pass"
    ]
    if notes:
        lines += ["", *notes]
    for comparison in suite.get("comparisons", [])[:1]:
        if comparison.get("refused"):
            lines += ["", f"**Not compared with {comparison['baseline']['label']}** (refused):", ""]
            lines += [f"- {reason}" for reason in comparison["refused"]]
        else:
            worst = [d for d in comparison.get("diffs", []) if d["worst"] < 0][:5]
            if worst:
                lines += ["", f"**Most regressed items** vs {comparison['baseline']['label']}:", ""]
                lines += [
                    f"- `{d['id']}`: "
                    + ", ".join(f"{k} {v:+.3f}" for k, v in d["changes"].items() if v < 0)
                    for d in worst
                ]
    hidden = [
        (s["tag"], name, cell)
        for s in suite.get("slices", [])
        for name, cell in s["metrics"].items()
        if cell.get("diff_high") is not None and cell["diff_high"] < 0
    ]
    if hidden:
        lines += ["", "**Slices that regressed** (paired Δ vs baseline, 95% CI):", ""]
        lines += [
            f"- `{tag}` {name}: {_ci(c['diff'], c['diff_low'], c['diff_high'])} (n={c['n']})"
            for tag, name, c in hidden[:10]
        ]
    lines += _slice_gate(run.get("slices"))
    flaky = run.get("flaky") or []
    if flaky:
        lines += ["", f"**Flaky items** ({run.get('flaky_count', len(flaky))}):", ""]
        for f in flaky[:20]:
            lines.append(
                f"- `{f['id']}` on {f['metric']}: {' → '.join(f['verdicts'])} "
                f"(flip rate {f['flip_rate']:.0%})"
            )
    calibration = run.get("calibration") or {}
    if calibration:
        lines += ["", "**Judge calibration** (vs human labels):", ""]
        for name, c in calibration.items():
            lines.append(
                f"- {name}: n={c.get('n')}, accuracy {_f(c.get('accuracy'))}, "
                f"kappa {_f(c.get('kappa'))}, TPR {_f(c.get('tpr'))}, TNR {_f(c.get('tnr'))}"
            )
    return lines


def _slice_gate(report: dict[str, Any] | None) -> list[str]:
    """Return the slice gate's table: every judged or too-small check, failures first."""
    if not report or not report.get("checks"):
        return []
    sizes = "; ".join(
        f"{by}: "
        + ", ".join(f"{r['value']} n={r['items']}" for r in report["slices"] if r["by"] == by)
        for by in report["by"]
    )
    lines = [
        "",
        f"**Slice gate** ({report['correction']}, family-wise α {report['alpha']:g}, "
        f"min {report['min_items']} items per slice) — {sizes}",
        "",
        "| rule | metric | slice | n | value [CI] | bound | p (adj.) | status |",
        "|---|---|---|---:|---|---:|---:|---|",
    ]
    order = {"fail": 0, "too few items": 1, "pass": 2}
    for c in sorted(report["checks"], key=lambda c: order.get(c["status"], 3)):
        where = f"{c['by']}={c['slice']}" if c["rule"] != "max_gap" else f"{c['by']} ({c['slice']})"
        value = "–" if c.get("value") is None else f"{c['value']:.3f}"
        if c.get("ci_low") is not None and c.get("ci_high") is not None:
            value += f" [{c['ci_low']:.3f}, {c['ci_high']:.3f}]"
        p = "–" if c.get("p_adjusted") is None else f"{c['p_adjusted']:.4f}"
        status = {"fail": "❌ fail", "pass": "✅ pass"}.get(c["status"], "⚪ too few items")
        lines.append(
            f"| {c['rule']} | {c['metric']} | `{where}` | {c['n']} | {value} | "
            f"{c['bound']:g} | {p} | {status} |"
        )
    return lines


def render_markdown(payload: dict[str, Any], *, report_path: str | None = None) -> str:
    """Return the Markdown summary of every suite in the dashboard document."""
    lines: list[str] = []
    for suite in payload["suites"]:
        if lines:
            lines.append("")
        lines += _suite(payload, suite)
    if not lines:
        lines = ["## llmops eval", "", "No eval runs in the history."]
    if report_path:
        lines += ["", f"Report: `{report_path}`"]
    return "\n".join(lines) + "\n"
