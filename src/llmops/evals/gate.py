"""The gate: absolute thresholds plus regression against a committed baseline.

Per metric, the per-item scores of this run are paired with the baseline's (same item ids) and
a paired bootstrap gives a confidence interval of the mean difference. A metric regresses only
when the whole interval lies below zero (significant at ``alpha``, two-sided) AND the observed
drop is larger than ``min_effect``. Absolute floors (``min`` on a metric) fail on their own.
A suite's ``slices:`` rules are judged by the same bootstrap per slice (``llmops.evals.slices``)
and fail the run like a metric does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmops.evals.records import FlakyItem, MetricSummary, RunResult

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from llmops.evals.metrics.base import Metric
    from llmops.evals.suite import GateSpec, SliceSpec

__all__ = [
    "BootstrapResult",
    "apply_gate",
    "bootstrap_gap",
    "find_flaky",
    "gated_scores",
    "paired_bootstrap",
    "summarize",
]


@dataclass(frozen=True)
class BootstrapResult:
    """Mean difference and its confidence interval; ``p_below`` (``p_above``) is the share of
    resampled means at or above (at or below) zero: the one-sided bootstrap p-value that the
    difference is below (above) zero."""

    diff: float
    low: float
    high: float
    n: int
    p_below: float = 1.0
    p_above: float = 1.0


def _resampled_means(
    values: npt.NDArray[np.float64], resamples: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """Return the means of ``resamples`` bootstrap resamples of ``values`` (with replacement)."""
    n = len(values)
    idx = rng.integers(0, n, size=(resamples, n))
    means: npt.NDArray[np.float64] = values[idx].mean(axis=1)
    return means


def _interval(
    observed: float, means: npt.NDArray[np.float64], alpha: float, n: int
) -> BootstrapResult:
    import numpy as np

    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return BootstrapResult(
        float(observed),
        float(low),
        float(high),
        n,
        p_below=float(np.mean(means >= 0)),
        p_above=float(np.mean(means <= 0)),
    )


def paired_bootstrap(
    current: Sequence[float],
    baseline: Sequence[float],
    *,
    alpha: float = 0.05,
    resamples: int = 2000,
    seed: int = 0,
) -> BootstrapResult:
    """Return the percentile bootstrap CI of mean(current - baseline) over paired items."""
    import numpy as np

    if len(current) != len(baseline):
        raise ValueError("paired samples must have the same length")
    diffs = np.asarray(current, dtype=float) - np.asarray(baseline, dtype=float)
    n = len(diffs)
    if n == 0:
        return BootstrapResult(0.0, 0.0, 0.0, 0)
    means = _paired_means(diffs, resamples=resamples, seed=seed)
    return _interval(float(diffs.mean()), means, alpha, n)


def _paired_means(
    diffs: npt.NDArray[np.float64], *, resamples: int, seed: int
) -> npt.NDArray[np.float64]:
    """Return scipy's bootstrap distribution of the mean paired difference.

    ``scipy.stats.bootstrap`` with ``paired=True`` resamples items, keeping each item's current
    and baseline score together; the distribution gives the interval and the one-sided p-values.
    """
    import numpy as np
    from scipy.stats import bootstrap

    if len(diffs) < 2 or np.ptp(diffs) == 0:
        # Every resample has the same mean (scipy refuses degenerate data).
        return np.full(resamples, float(diffs.mean()))

    def mean_diff(d: Any, axis: int = -1) -> Any:
        return np.mean(d, axis=axis)

    res = bootstrap(
        (diffs,),
        mean_diff,
        paired=True,
        vectorized=True,
        n_resamples=resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    out: npt.NDArray[np.float64] = np.asarray(res.bootstrap_distribution, dtype=float)
    return out


def bootstrap_gap(
    groups: Sequence[Sequence[float]],
    *,
    bound: float = 0.0,
    alpha: float = 0.05,
    resamples: int = 2000,
    seed: int = 0,
) -> BootstrapResult:
    """Return the largest gap between group means (best - worst) and a test that it exceeds
    ``bound``, simultaneous over every pair of groups.

    Groups share no items, so nothing pairs: each is resampled on its own with the paired
    bootstrap's resampler, and the range of the *centred* resampled means is the bootstrap
    distribution of the largest error any pairwise gap can have. ``p_above`` is the p-value
    that some true gap exceeds ``bound`` (no Bonferroni factor for picking the pair after seeing
    the data is needed: the range covers every pair at once); ``low``/``high`` bound the largest
    true gap. ``n`` is the smallest group.
    """
    import numpy as np

    arrays = [np.asarray(g, dtype=float) for g in groups]
    if len(arrays) < 2 or any(len(a) == 0 for a in arrays):
        return BootstrapResult(0.0, 0.0, 0.0, 0)
    rng = np.random.default_rng(seed)
    means = np.array([a.mean() for a in arrays])
    centred = np.stack([_resampled_means(a, resamples, rng) - a.mean() for a in arrays])
    spread = centred.max(axis=0) - centred.min(axis=0)
    gap = float(means.max() - means.min())
    margin = float(np.quantile(spread, 1 - alpha / 2))
    return BootstrapResult(
        gap,
        gap - margin,
        gap + margin,
        min(len(a) for a in arrays),
        p_below=1.0,
        p_above=float(np.mean(spread >= gap - bound)),
    )


def find_flaky(run: RunResult) -> list[FlakyItem]:
    """Return items whose pass/fail verdict on a metric changed between repeats."""
    verdicts: dict[tuple[str, str], list[str]] = {}
    for row in sorted(run.rows, key=lambda r: (r.id, r.repeat)):
        for name, result in row.metrics.items():
            if result.status in ("pass", "fail"):
                verdicts.setdefault((row.id, name), []).append(result.status)
    flaky = []
    for (item, metric), seen in sorted(verdicts.items()):
        if len(seen) > 1 and len(set(seen)) > 1:
            majority = Counter(seen).most_common(1)[0][1]
            flaky.append(
                FlakyItem(
                    id=item,
                    metric=metric,
                    verdicts=seen,
                    flip_rate=round(1 - majority / len(seen), 4),
                )
            )
    return flaky


def gated_scores(run: RunResult, metric: str, gate: GateSpec) -> dict[str, float]:
    """Return the item scores the gate judges (errored items as 0 under ``errors: zero``)."""
    scores = run.item_scores(metric)
    if gate.errors == "zero":
        for row in run.rows:
            result = row.metrics.get(metric)
            if result is not None and result.status == "error":
                scores.setdefault(row.id, 0.0)
    return scores


def summarize(run: RunResult, metrics: Sequence[Metric], gate: GateSpec) -> None:
    """Fill ``run.metrics`` (means, pass rates, counts) and ``run.overall_score``."""
    summaries = []
    weighted, total_weight = 0.0, 0.0
    for metric in metrics:
        spec = metric.spec
        name = spec.name
        counts: Counter[str] = Counter()
        for row in run.rows:
            result = row.metrics.get(name)
            if result is not None:
                counts[result.status] += 1
        scores = gated_scores(run, name, gate)
        decided = counts["pass"] + counts["fail"]
        summary = MetricSummary(
            name=name,
            type=spec.type,
            mean=sum(scores.values()) / len(scores) if scores else None,
            pass_rate=counts["pass"] / decided if decided else None,
            threshold=metric.threshold,
            weight=spec.weight,
            min=spec.min,
            counts=dict(counts),
        )
        if summary.mean is not None and spec.weight > 0:
            weighted += summary.mean * spec.weight
            total_weight += spec.weight
        summaries.append(summary)
    run.metrics = summaries
    run.overall_score = weighted / total_weight if total_weight else None
    run.flaky = find_flaky(run)


def apply_gate(
    run: RunResult,
    metrics: Sequence[Metric],
    gate: GateSpec,
    baseline: dict[str, Any] | None,
    *,
    min_kappa: float | None = None,
    slices: SliceSpec | None = None,
) -> bool:
    """Decide pass/fail per metric, per slice rule and for the run; record the reasons.
    Return run.passed."""
    specs = {m.spec.name: m.spec for m in metrics}
    base_metrics = (baseline or {}).get("metrics", {})
    failed = False
    for summary in run.metrics:
        spec = specs[summary.name]
        reasons: list[str] = []
        status = "pass"
        n_rows = sum(summary.counts.values()) or 1
        errors = summary.counts.get("error", 0)
        skipped = summary.counts.get("skipped", 0)
        if skipped and skipped == n_rows:
            status = "skipped"
            first = next(
                (
                    r.metrics[summary.name].reason
                    for r in run.rows
                    if summary.name in r.metrics and r.metrics[summary.name].status == "skipped"
                ),
                "",
            )
            reasons.append(first if first.startswith("skipped") else f"skipped: {first}")
        if errors and gate.errors == "fail" and errors / n_rows > gate.max_error_rate:
            status = "error"
            reasons.append(f"{errors} item(s) errored (errors policy: fail)")
        if summary.mean is not None and spec.min is not None and summary.mean < spec.min:
            status = "fail"
            reasons.append(f"mean {summary.mean:.3f} is below the minimum {spec.min:.3f}")
        base = base_metrics.get(summary.name)
        if base is not None and spec.gate and status != "skipped":
            current = run.item_scores(summary.name)
            base_items: dict[str, float] = base.get("items", {})
            paired = sorted(set(current) & set(base_items))
            # The baseline's mean over the items the Δ pairs, so the two columns compare: a run
            # of a subset of the baseline's items showed the whole baseline's mean beside Δ 0.
            summary.baseline_mean = (
                round(sum(base_items[i] for i in paired) / len(paired), 4) + 0.0
                if paired
                else base.get("mean")
            )
            summary.paired_items = len(paired)
            if paired:
                result = paired_bootstrap(
                    [current[i] for i in paired],
                    [base_items[i] for i in paired],
                    alpha=gate.alpha,
                    resamples=gate.resamples,
                    seed=gate.seed,
                )
                # 4 decimals (+ 0.0 turns -0.0 into 0.0) so reports do not show "-0.000"
                summary.diff, summary.ci_low, summary.ci_high = (
                    round(v, 4) + 0.0 for v in (result.diff, result.low, result.high)
                )
                level = int(round((1 - gate.alpha) * 100))
                interval = f"{result.diff:+.3f} [{result.low:+.3f}, {result.high:+.3f}] ({level}% CI, n={result.n})"
                if result.high < 0 and -result.diff > gate.min_effect:
                    status = "fail"
                    reasons.append(f"regressed vs baseline: {interval}")
                elif result.high < 0:
                    reasons.append(f"drop below the minimum effect {gate.min_effect}: {interval}")
                else:
                    reasons.append(f"vs baseline: {interval}")
        summary.status = status  # type: ignore[assignment]
        summary.reasons = reasons
        if status in ("fail", "error"):
            failed = True
    calibration = run.calibration
    if min_kappa is not None:
        for figures in calibration.values():
            kappa = figures.get("kappa")
            if kappa is not None and kappa < min_kappa:
                failed = True
                figures["status"] = "fail"
                figures["reason"] = f"judge agreement kappa {kappa:.2f} < min_kappa {min_kappa:.2f}"
    if slices is not None:
        from llmops.evals.slices import slice_gate

        run.slices = slice_gate(run, slices, gate, baseline)
        failed = failed or not run.slices.passed
    run.gate = {
        "baseline": bool(baseline),
        "alpha": gate.alpha,
        "min_effect": gate.min_effect,
        "errors": gate.errors,
    }
    run.passed = not failed
    return run.passed
