"""Slices: results broken down by golden-set attributes or tags, and the slice gate.

A suite's ``slices:`` names dimensions — attribute names (``kind``, ``topic``, ``persona``) or
``tags``. Every value of a dimension is a slice (``kind=how-to``); an item with several tags is
in several tag slices, an item without the attribute is in the slice ``(none)``. Each slice gets,
per metric, its mean, its number of scored items and its paired change against the baseline.

Slice rules are judged with the gate's bootstrap (``llmops.evals.gate``), each as a one-sided
test in the direction that breaks the rule:

- ``min``: the slice's mean is below ``min`` — the paired bootstrap of (score - min);
- ``no_regression``: the slice is below the baseline — the paired bootstrap over the slice's
  items paired by id, exactly the gate's — and the drop is larger than ``min_effect``;
- ``max_gap``: the best slice's mean exceeds the worst's by more than ``max_gap`` — slices share
  no items, so nothing can be paired: each is resampled on its own with the same resampler, and
  the test is simultaneous over every pair of slices (``bootstrap_gap``), so picking the best
  and worst after seeing the data does not inflate false alarms.

A slice with fewer than ``min_items`` scored items gets the verdict ``too few items``: shown
with its n, never passed or failed on noise, and not counted in the family below.

Multiplicity: slices x metrics x rules is many tests, and at a 5 % level each, some would fail on
pure noise in most runs. All checks judged in a run form one family, and Holm's step-down
correction (the default; ``bonferroni`` and ``none`` are there to compare) keeps the chance of
*any* false alarm in the family at most ``alpha`` — under any dependence between the checks.
tests/evals/test_slices.py measures it through ``apply_gate`` on simulated runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmops.errors import ConfigError
from llmops.evals.gate import BootstrapResult, bootstrap_gap, gated_scores, paired_bootstrap
from llmops.evals.records import RunResult, SliceCell, SliceCheck, SliceReport, SliceRow

if TYPE_CHECKING:
    from llmops.evals.golden import GoldenSet
    from llmops.evals.suite import GateSpec, SliceRule, SliceSpec, Suite

__all__ = [
    "NONE",
    "adjust_pvalues",
    "check_dimensions",
    "slice_gate",
    "slice_lines",
    "slice_members",
]

NONE = "(none)"
MAX_RESAMPLES = 100_000


def slice_members(run: RunResult, by: str) -> dict[str, list[str]]:
    """Return slice value -> item ids (each item once, whatever its repeats), values sorted."""
    out: dict[str, list[str]] = {}
    seen: set[str] = set()
    for row in run.rows:
        if row.id in seen:
            continue
        seen.add(row.id)
        values = list(row.tags) if by == "tags" else [row.attributes.get(by, NONE)]
        for value in values or [NONE]:
            out.setdefault(value, []).append(row.id)
    return dict(sorted(out.items()))


def adjust_pvalues(pvalues: Sequence[float], method: str) -> list[float]:
    """Return p-values adjusted for multiplicity: ``holm`` (step-down), ``bonferroni``, ``none``."""
    m = len(pvalues)
    if method == "none" or m == 0:
        return list(pvalues)
    if method == "bonferroni":
        return [min(1.0, p * m) for p in pvalues]
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def check_dimensions(suite: Suite, golden: GoldenSet) -> None:
    """Fail when ``slices.by`` names an attribute no record of the golden set carries."""
    spec = suite.slices
    if spec is None:
        return
    present = sorted({name for record in golden for name in record.attributes})
    for name in spec.by:
        if name == "tags" or name in present:
            continue
        from llmops.suggest import did_you_mean

        guess = did_you_mean(name, present)
        raise ConfigError(
            f"slices.by names attribute '{name}', which no golden record carries"
            + (f" (did you mean '{guess}'?)" if guess else ""),
            file=suite.path,
            line=suite.line_of("slices"),
            key="slices.by",
            hint="attributes in the golden set: "
            + (", ".join(present) or "none")
            + "; add \"attributes\": {...} to the records, or slice by 'tags'",
        )


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4) + 0.0


@dataclass
class _Pending:
    """A check waiting for its bootstrap (the resamples depend on how many checks there are)."""

    check: SliceCheck
    compute: Callable[[int], BootstrapResult]
    side: str  # "below": the rule breaks when the statistic is below 0; "above": above 0
    shift: float = 0.0  # added back to the interval for display (a slice minimum)
    min_effect: float | None = None


class _Judge:
    """Builds the checks of one run; ``finish`` corrects for multiplicity and decides."""

    def __init__(
        self, run: RunResult, spec: SliceSpec, gate: GateSpec, baseline: dict[str, Any] | None
    ) -> None:
        self.run, self.spec, self.gate = run, spec, gate
        self.base: dict[str, dict[str, float]] = {
            name: {k: float(v) for k, v in (m.get("items") or {}).items()}
            for name, m in ((baseline or {}).get("metrics") or {}).items()
        }
        self.checks: list[SliceCheck] = []
        self.pending: list[_Pending] = []
        self.members = {by: slice_members(run, by) for by in spec.by}
        self.scores: dict[str, dict[str, float]] = {}

    def scores_of(self, metric: str) -> dict[str, float]:
        if metric not in self.scores:
            self.scores[metric] = gated_scores(self.run, metric, self.gate)
        return self.scores[metric]

    def too_few(self, check: SliceCheck, what: str = "items") -> None:
        check.status = "too few items"
        check.reason = (
            f"{check.metric} on {check.label}: too few {what}: n={check.n} < min_items "
            f"{self.spec.min_items}; not judged"
        )
        self.checks.append(check)

    def add(self, rule: SliceRule, metric: str, by: str) -> None:
        scores = self.scores_of(metric)
        slices = {value: [i for i in ids if i in scores] for value, ids in self.members[by].items()}
        slices = {value: ids for value, ids in slices.items() if ids}
        for value, ids in slices.items():
            if rule.min is not None:
                self.add_min(rule.min, metric, by, value, [scores[i] for i in ids])
            if rule.no_regression and metric in self.base:
                effect = self.gate.min_effect if rule.min_effect is None else rule.min_effect
                self.add_regression(metric, by, value, ids, effect)
        if rule.max_gap is not None and slices:
            self.add_gap(
                rule.max_gap, metric, by, {v: [scores[i] for i in ids] for v, ids in slices.items()}
            )

    def add_min(self, floor: float, metric: str, by: str, value: str, values: list[float]) -> None:
        check = SliceCheck(
            rule="min", metric=metric, by=by, slice=value, n=len(values),
            value=_r(_mean(values)), bound=floor,
        )  # fmt: skip
        if len(values) < self.spec.min_items:
            self.too_few(check)
            return
        self.queue(
            check, lambda r: self.paired(values, [floor] * len(values), r), "below", shift=floor
        )

    def add_regression(
        self, metric: str, by: str, value: str, ids: list[str], effect: float
    ) -> None:
        base = self.base[metric]
        paired = [i for i in ids if i in base]
        if not paired:
            return
        cur = [self.scores_of(metric)[i] for i in paired]
        old = [base[i] for i in paired]
        check = SliceCheck(
            rule="no_regression", metric=metric, by=by, slice=value, n=len(paired),
            value=_r((sum(cur) - sum(old)) / len(paired)), bound=-effect,
        )  # fmt: skip
        if len(paired) < self.spec.min_items:
            self.too_few(check, "paired items")
            return
        self.queue(check, lambda r: self.paired(cur, old, r), "below", min_effect=effect)

    def add_gap(self, max_gap: float, metric: str, by: str, slices: dict[str, list[float]]) -> None:
        judged = {v: s for v, s in slices.items() if len(s) >= self.spec.min_items}
        left_out = sorted(v for v in slices if v not in judged)
        if len(judged) < 2:
            # n: the second-largest slice, the one too small to pair with the largest
            sizes = sorted((len(s) for s in slices.values()), reverse=True)
            second = sizes[1] if len(sizes) > 1 else 0
            check = SliceCheck(
                rule="max_gap", metric=metric, by=by, slice="best vs worst",
                n=second, bound=max_gap,
            )  # fmt: skip
            check.status = "too few items"
            check.reason = (
                f"{metric} on {check.label}: fewer than 2 slices with at least "
                f"{self.spec.min_items} items; not judged"
            )
            self.checks.append(check)
            return
        means = {v: sum(s) / len(s) for v, s in judged.items()}
        best = max(means, key=lambda v: (means[v], v))
        worst = min(means, key=lambda v: (means[v], v))
        check = SliceCheck(
            rule="max_gap", metric=metric, by=by, slice=f"{best} vs {worst}",
            n=min(len(s) for s in judged.values()), value=_r(means[best] - means[worst]),
            bound=max_gap,
            reason="left out with too few items: " + ", ".join(left_out) if left_out else "",
        )  # fmt: skip
        groups = list(judged.values())
        self.queue(
            check,
            lambda r: bootstrap_gap(
                groups, bound=max_gap, alpha=self.gate.alpha, resamples=r, seed=self.gate.seed
            ),
            "above",
        )

    def paired(self, cur: list[float], old: list[float], resamples: int) -> BootstrapResult:
        return paired_bootstrap(
            cur, old, alpha=self.gate.alpha, resamples=resamples, seed=self.gate.seed
        )

    def queue(
        self,
        check: SliceCheck,
        compute: Callable[[int], BootstrapResult],
        side: str,
        *,
        shift: float = 0.0,
        min_effect: float | None = None,
    ) -> None:
        self.checks.append(check)
        self.pending.append(_Pending(check, compute, side, shift, min_effect))

    def finish(self) -> list[SliceCheck]:
        alpha, m = self.spec.alpha, len(self.pending)
        # Enough resamples that the smallest corrected threshold (alpha / m) is resolvable.
        resamples = max(self.gate.resamples, min(MAX_RESAMPLES, math.ceil(20 * m / alpha)))
        results = [p.compute(resamples) for p in self.pending]
        raw = [
            r.p_below if p.side == "below" else r.p_above
            for p, r in zip(self.pending, results, strict=True)
        ]
        adjusted = adjust_pvalues(raw, self.spec.correction)
        level = int(round((1 - self.gate.alpha) * 100))
        for p, r, praw, padj in zip(self.pending, results, raw, adjusted, strict=True):
            check = p.check
            check.ci_low, check.ci_high = _r(r.low + p.shift), _r(r.high + p.shift)
            check.p_value, check.p_adjusted = _r(praw), _r(padj)
            significant = padj <= alpha
            if p.min_effect is not None and check.value is not None:
                significant = significant and -check.value > p.min_effect
            check.status = "fail" if significant else "pass"
            interval = f"{check.value:+.3f} [{check.ci_low:+.3f}, {check.ci_high:+.3f}]"
            stats = (
                f"({level}% CI, n={check.n}; p={praw:.4f}, {self.spec.correction}-adjusted "
                f"{padj:.4f} {'≤' if padj <= alpha else '>'} α {alpha:g})"
            )
            check.reason = _describe(check, interval, stats, extra=check.reason)
        return self.checks


def _describe(check: SliceCheck, interval: str, stats: str, *, extra: str = "") -> str:
    failed = check.status == "fail"
    where = f"{check.metric} on {check.label}"
    if check.rule == "min":
        head = (
            f"{where}: mean {check.value:.3f} is below the slice minimum {check.bound:g}"
            if failed
            else f"{where}: mean {check.value:.3f} vs the slice minimum {check.bound:g}"
        )
        interval = f"mean {check.value:.3f} [{check.ci_low:.3f}, {check.ci_high:.3f}]"
    elif check.rule == "no_regression":
        head = (
            f"{where}: regressed vs baseline by more than {-check.bound:g}"
            if failed
            else f"{where}: vs baseline"
        )
    else:
        head = (
            f"{where}: gap {check.value:.3f} between best and worst slice exceeds {check.bound:g}"
            if failed
            else f"{where}: gap {check.value:.3f} between best and worst slice (max {check.bound:g})"
        )
        interval = f"gap {check.value:.3f} [{check.ci_low:.3f}, {check.ci_high:.3f}]"
    text = f"{head}: {interval} {stats}"
    return f"{text}; {extra}" if extra else text


def _breakdown(judge: _Judge, metrics: list[str]) -> list[SliceRow]:
    rows: list[SliceRow] = []
    for by, members in judge.members.items():
        for value, ids in members.items():
            row = SliceRow(by=by, value=value, items=len(ids))
            for metric in metrics:
                scores = judge.scores_of(metric)
                values = [scores[i] for i in ids if i in scores]
                if not values:
                    continue
                base = judge.base.get(metric, {})
                paired = [i for i in ids if i in scores and i in base]
                row.metrics[metric] = SliceCell(
                    n=len(values),
                    mean=_r(_mean(values)),
                    baseline_mean=_r(_mean([base[i] for i in ids if i in base])),
                    diff=_r(_mean([scores[i] - base[i] for i in paired])),
                    paired_items=len(paired),
                )
            rows.append(row)
    return rows


def slice_gate(
    run: RunResult, spec: SliceSpec, gate: GateSpec, baseline: dict[str, Any] | None
) -> SliceReport:
    """Return the run broken down by ``spec.by`` and every slice rule's verdict."""
    judge = _Judge(run, spec, gate, baseline)
    known = {m.name for m in run.metrics}
    for rule in spec.rules:
        for metric in rule.metrics:
            if metric not in known:
                raise ConfigError(
                    f"slice rule names unknown metric '{metric}'",
                    key="slices.rules",
                    hint=f"metrics of this suite: {', '.join(sorted(known))}",
                )
            for by in rule.by or spec.by:
                judge.add(rule, metric, by)
    checks = judge.finish()
    metrics = [m.name for m in run.metrics if m.mean is not None]
    return SliceReport(
        by=list(spec.by),
        min_items=spec.min_items,
        alpha=spec.alpha,
        correction=spec.correction,
        tests=len(judge.pending),
        slices=_breakdown(judge, metrics),
        checks=checks,
        passed=not any(c.status == "fail" for c in checks),
    )


def slice_lines(run: RunResult, *, limit: int = 10) -> list[str]:
    """Return the console lines for the slice gate: failures (naming the slice), then slices
    with too few items."""
    report = run.slices
    if report is None or not report.checks:
        return []
    failed = report.failed
    few = [c for c in report.checks if c.status == "too few items"]
    lines = [
        f"slices by {', '.join(report.by)}: {len(failed)} of {report.tests} check(s) failed "
        f"({report.correction}, family-wise α {report.alpha:g}); "
        f"{len(few)} with too few items (< {report.min_items})"
    ]
    for by in report.by:
        sizes = [f"{r.value} n={r.items}" for r in report.slices if r.by == by]
        lines.append(f"  {by}: {', '.join(sizes)}")
    lines += [f"  slice FAILED: {c.reason}" for c in failed[:limit]]
    small = sorted({f"{c.label} (n={c.n})" for c in few if c.rule != "max_gap"})
    if small:
        lines.append(f"  too few items, not judged: {', '.join(small[:limit])}")
    return lines
