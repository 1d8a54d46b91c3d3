"""Canary and shadow arms compared with intervals, ending in promote, hold or rollback.

The baseline is the ``primary`` arm of a shadow route, else the arm with the most traffic; every
other arm is a candidate. Per candidate: error rate (exact permutation test of the difference),
unsupported-answer rate (reweighted, difference interval) and p95 latency (distribution-free
intervals). Rollback when any is significantly worse beyond the margin; promote when every arm
has ``release.min_requests`` and none is worse (the error and unsupported rates' upper bounds
within the margin); otherwise hold, saying what is missing.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from llmops.monitor.queries import Window, merge_scored, merge_totals
from llmops.monitor.signals import SignalValue
from llmops.monitor.stats import Z95, binned_test, hist_quantile, ht_rate, rate_diff_stat, wilson
from llmops.traces.rollup import BINS

if TYPE_CHECKING:
    from llmops.monitor.signals import Evaluator

__all__ = ["release"]

_SCORE = {"rollback": -1.0, "hold": 0.0, "promote": 1.0}


def _diff(a: Any, b: Any) -> tuple[float, float, float] | None:
    """Return (difference, low, high) of two Rates (b - a) from their interval half-widths."""
    if a is None or b is None:
        return None
    se_a = (a.high - a.low) / (2 * Z95)
    se_b = (b.high - b.low) / (2 * Z95)
    d = b.value - a.value
    half = Z95 * math.sqrt(se_a * se_a + se_b * se_b)
    return d, d - half, d + half


def _compare(ev: Evaluator, base: dict[str, Any], cand: dict[str, Any]) -> dict[str, Any]:
    cfg = ev.settings.monitor.release
    alpha = ev.settings.monitor.drift.alpha
    worse: list[str] = []
    missing: list[str] = []
    unsure: list[str] = []
    n_b, n_c = base["n"], cand["n"]
    if min(n_b, n_c) < cfg.min_requests:
        missing.append(f"{min(n_b, n_c)} requests in an arm (needs {cfg.min_requests})")
    err = binned_test(
        [n_b - base["errors"], base["errors"]], [n_c - cand["errors"], cand["errors"]],
        rate_diff_stat, permutations=ev.settings.monitor.drift.permutations,
    )  # fmt: skip
    err_diff = _diff(wilson(base["errors"], n_b), wilson(cand["errors"], n_c))
    if err_diff is not None:
        if err_diff[0] > cfg.margin and err.p_value < alpha:
            worse.append(f"error rate +{err_diff[0]:.1%} (p = {err.p_value:.4f})")
        elif err_diff[2] > cfg.margin:
            unsure.append("error rate not yet within the margin")
    quality = _diff(base["unsupported"], cand["unsupported"])
    if quality is None:
        missing.append("scored answers in both arms")
    elif quality[1] > cfg.margin:
        worse.append(
            f"unsupported-answer rate +{quality[0]:.1%} [{quality[1]:.1%}, {quality[2]:.1%}]"
        )
    elif quality[2] > cfg.margin:
        unsure.append("unsupported-answer rate not yet within the margin")
    lat_b, lat_c = base["p95"], cand["p95"]
    if lat_b and lat_c and lat_c[1] > lat_b[2] * (1 + cfg.latency_margin):
        worse.append(f"p95 latency {lat_c[0]:.0f} ms vs {lat_b[0]:.0f} ms")
    if worse:
        verdict, reasons = "rollback", worse
    elif missing or unsure:
        verdict, reasons = "hold", missing + unsure
    else:
        verdict, reasons = "promote", ["no metric worse than the baseline beyond the margin"]
    return {
        "recommendation": verdict,
        "reasons": reasons,
        "error_rate_diff": [round(x, 4) for x in err_diff] if err_diff else None,
        "error_p_value": round(err.p_value, 5),
        "unsupported_rate_diff": [round(x, 4) for x in quality] if quality else None,
    }


def release(ev: Evaluator, route: str, window: Window) -> dict[str, Any]:
    """Compare the route's arms; the signal is -1 rollback, 0 hold, 1 promote."""
    arms: dict[str, dict[str, Any]] = {}
    from llmops.monitor.groups import rows

    for row in merge_totals(rows(ev, route, window), ("arm",)):
        name = row.keys["arm"]
        if not name or row["n"] == 0:
            continue
        p95 = hist_quantile(BINS["latency"].edges, row.bins["latency"], 0.95)
        arms[name] = {
            "n": int(row["n"]),
            "errors": int(row["errors"]),
            "p95": p95,
            "unsupported": None,
        }
    if len(arms) < 2:
        signal = SignalValue("release", route, "no_data", message="no release arms to compare")
        return {"signals": {"release": signal}, "details": {"arms": arms}}
    for group in merge_scored(ev.scored(route, window), ("arm",)):
        arm = arms.get(group.keys["arm"])
        if arm is not None:
            s = group.sums["unsupported"]
            arm["unsupported"] = ht_rate(
                s["sum_w"], s["sum_wy"], s["sum_a"], s["sum_ay"], s["sum_w2"]
            )
    base = "primary" if "primary" in arms else max(arms, key=lambda a: arms[a]["n"])
    comparisons = {
        name: _compare(ev, arms[base], arm) for name, arm in arms.items() if name != base
    }
    order = ("rollback", "hold", "promote")
    verdict = min((c["recommendation"] for c in comparisons.values()), key=order.index)
    reasons = [f"{name}: {'; '.join(c['reasons'])}" for name, c in comparisons.items()]
    signal = SignalValue(
        "release", route, "ok", _SCORE[verdict], n=float(sum(a["n"] for a in arms.values())),
        message=f"{verdict} (baseline {base}): " + " | ".join(reasons),
        evidence={"baseline": base, "comparisons": comparisons},
    )  # fmt: skip
    shown = {
        name: {
            "requests": a["n"],
            "errors": a["errors"],
            "p95_ms": [round(x, 1) for x in a["p95"]] if a["p95"] else None,
            "unsupported_rate": a["unsupported"].as_dict() if a["unsupported"] else None,
        }
        for name, a in arms.items()
    }
    return {
        "signals": {"release": signal},
        "details": {"baseline": base, "arms": shown, "comparisons": comparisons},
    }
