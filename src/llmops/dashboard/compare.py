"""Comparing two runs: refused when their lineage makes them incomparable, else paired per item.

Two runs are comparable only over the same items scored the same way: the same suite, the same
golden set (dataset hash) and the same judge (model, endpoint and rubric version). Anything else
is refused with the reason instead of being plotted side by side. Comparable runs get, per
metric, the paired bootstrap interval of the mean difference and the gate's verdict (a
regression is an interval wholly below zero with a drop larger than the minimum effect), and
per-item differences sorted by how much each item regressed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmops.evals.gate import paired_bootstrap

__all__ = ["Side", "compare", "incomparable", "slice_intervals"]


@dataclass
class Side:
    """One side of a comparison: a recorded run or a committed baseline file."""

    label: str
    suite: str
    lineage: dict[str, Any]
    scores: dict[str, dict[str, float]]  # metric -> item id -> score
    run_id: str | None = None
    means: dict[str, float | None] = field(default_factory=dict)


def _judge_key(lineage: dict[str, Any]) -> tuple[Any, ...] | None:
    judge = lineage.get("judge")
    if not judge:
        return None
    rubric = judge.get("rubric") or {}
    return (judge.get("model"), judge.get("base_url"), rubric.get("content_hash"))


def _judge_text(key: tuple[Any, ...] | None) -> str:
    if key is None:
        return "no judge"
    model, url, rubric = key
    text = f"{model}"
    if url:
        text += f" at {url}"
    if rubric:
        text += f", rubric {str(rubric)[:12]}"
    return text


def incomparable(base: Side, cand: Side) -> list[str]:
    """Return why ``base`` and ``cand`` cannot be compared (empty when they can)."""
    reasons = []
    if base.suite != cand.suite:
        reasons.append(f"different suites: {base.suite} vs {cand.suite}")
    b_data, c_data = base.lineage.get("dataset_hash"), cand.lineage.get("dataset_hash")
    if not b_data or not c_data:
        missing = base.label if not b_data else cand.label
        reasons.append(
            f"dataset hash unknown for {missing}: cannot tell both runs scored the same items"
        )
    elif b_data != c_data:
        reasons.append(
            f"different dataset: {base.label} ran golden set {b_data[:12]}, "
            f"{cand.label} ran {c_data[:12]} — item scores would be paired across different questions"
        )
    b_judge, c_judge = _judge_key(base.lineage), _judge_key(cand.lineage)
    if b_judge != c_judge:
        reasons.append(
            f"different judge: {base.label} was scored by {_judge_text(b_judge)}, "
            f"{cand.label} by {_judge_text(c_judge)} — score changes would mix model and judge"
        )
    return reasons


def compare(
    base: Side,
    cand: Side,
    *,
    gate: dict[str, Any] | None = None,
    top: int = 200,
) -> dict[str, Any]:
    """Return the comparison document (or its refusal) for the dashboard."""
    doc: dict[str, Any] = {
        "suite": cand.suite,
        "baseline": {"label": base.label, "run_id": base.run_id},
        "candidate": {"label": cand.label, "run_id": cand.run_id},
    }
    reasons = incomparable(base, cand)
    if reasons:
        doc.update(refused=reasons, metrics=[], diffs=[], verdict="refused")
        return doc
    gate = gate or {}
    alpha = float(gate.get("alpha", 0.05))
    min_effect = float(gate.get("min_effect", 0.0))
    metrics = []
    regressed = False
    per_item: dict[str, dict[str, float]] = {}
    for name in sorted(set(base.scores) & set(cand.scores)):
        b_items, c_items = base.scores[name], cand.scores[name]
        paired = sorted(set(b_items) & set(c_items))
        entry: dict[str, Any] = {
            "name": name,
            "base_mean": base.means.get(name),
            "cand_mean": cand.means.get(name),
            "n": len(paired),
        }
        if paired:
            res = paired_bootstrap(
                [c_items[i] for i in paired],
                [b_items[i] for i in paired],
                alpha=alpha,
                resamples=_resamples(len(paired), 2000),
            )
            entry.update(diff=round(res.diff, 4), low=round(res.low, 4), high=round(res.high, 4))
            if res.high < 0 and -res.diff > min_effect:
                entry["verdict"] = "regressed"
                regressed = True
            elif res.high < 0:
                entry["verdict"] = "drop below minimum effect"
            elif res.low > 0:
                entry["verdict"] = "improved"
            else:
                entry["verdict"] = "no significant change"
            for item in paired:
                per_item.setdefault(item, {})[name] = round(c_items[item] - b_items[item], 4)
        else:
            entry["verdict"] = "no paired items"
        metrics.append(entry)
    ranked = sorted(per_item.items(), key=lambda kv: (min(kv[1].values()), kv[0]))
    diffs = [
        {
            "id": item,
            "worst": min(changes.values()),
            "changes": changes,
            "base": {m: round(base.scores[m][item], 4) for m in changes},
            "cand": {m: round(cand.scores[m][item], 4) for m in changes},
        }
        for item, changes in ranked[:top]
    ]
    doc.update(
        refused=None,
        metrics=metrics,
        diffs=diffs,
        diffs_total=len(ranked),
        verdict="fail" if regressed else "pass",
        alpha=alpha,
        min_effect=min_effect,
    )
    return doc


def _resamples(n: int, most: int) -> int:
    """Return bootstrap resamples for ``n`` items: ``most`` for small sets, >= 200 for huge ones."""
    return int(min(most, max(200, 2_000_000 // max(n, 1))))


def _mean_interval(
    values: list[float], *, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float]:
    """Return a percentile-bootstrap interval of the mean (fewer resamples for large slices)."""
    import numpy as np

    arr = np.asarray(values, dtype=float)
    n = len(arr)
    if n < 2:
        return float(arr.mean()), float(arr.mean())
    resamples = _resamples(n, 1000)
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def slice_intervals(
    tags: dict[str, list[str]],
    scores: dict[str, dict[str, float]],
    baseline: dict[str, dict[str, float]] | None = None,
) -> list[dict[str, Any]]:
    """Return per tag and metric: mean with its interval, and the paired change vs baseline."""
    by_tag: dict[str, list[str]] = {}
    for item, item_tags in tags.items():
        for tag in item_tags or ["(untagged)"]:
            by_tag.setdefault(tag, []).append(item)
    out = []
    for tag in sorted(by_tag):
        members = by_tag[tag]
        entry: dict[str, Any] = {"tag": tag, "n": len(members), "metrics": {}}
        for name in sorted(scores):
            values = [scores[name][i] for i in members if i in scores[name]]
            if not values:
                continue
            low, high = _mean_interval(values)
            cell: dict[str, Any] = {
                "mean": round(sum(values) / len(values), 4),
                "low": round(low, 4),
                "high": round(high, 4),
                "n": len(values),
            }
            base = (baseline or {}).get(name)
            if base:
                paired = [i for i in members if i in scores[name] and i in base]
                if paired:
                    res = paired_bootstrap(
                        [scores[name][i] for i in paired],
                        [base[i] for i in paired],
                        resamples=_resamples(len(paired), 1000),
                    )
                    cell.update(
                        diff=round(res.diff, 4),
                        diff_low=round(res.low, 4),
                        diff_high=round(res.high, 4),
                    )
            entry["metrics"][name] = cell
        out.append(entry)
    return out
