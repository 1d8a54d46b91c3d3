"""Leave-one-source-out evaluation of the injection guard, with nested choice of design options.

``evaluate(ds)`` rebuilds the whole system (base models, similarity corpus, fusion, threshold)
without each training source and scores that source; evaluation-only sources are scored by the
model trained on every training source. With several ``options`` the choice among them is
nested: for each outer fold, every option is scored by an inner leave-one-source-out over that
fold's training sources only, and the winner is the one fitted and scored on the held-out
source. No figure of a held-out source ever takes part in choosing how it is scored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from llmops.guards.learned import FUSE_FEATURES, LearnedModel
from llmops.guards.sources import SOURCES
from llmops.guards.train import OPTIONS, Dataset, Memo, Options, _inputs, corpus_for, fit

__all__ = ["evaluate", "inner_score", "select"]

FPR_BUDGET = 0.01
FPR_PENALTY = 5.0


def _score(
    ds: Dataset, i: int, model: LearnedModel, corpus: Any, strong: float, opts: Options
) -> float:
    if opts.floor and ds.pattern[i] >= strong:
        return float(ds.pattern[i])
    x = _inputs(ds, i, model, corpus, opts)
    return model.fuse(dict(zip(FUSE_FEATURES, x, strict=True)))


def _loso(
    ds: Dataset, train: Sequence[int], opts: Options, strong: float, memo: Memo
) -> tuple[list[int], list[bool]]:
    """Leave-one-source-out over the sources of rows ``train``: (rows scored, flagged)."""
    by_source: dict[str, list[int]] = defaultdict(list)
    for i in train:
        by_source[str(ds.sources[i])].append(i)
    rows: list[int] = []
    flags: list[bool] = []
    for source in sorted(by_source):
        rest = [i for i in train if ds.sources[i] != source]
        model = fit(ds, rest, strong=strong, options=opts, memo=memo)
        corpus = corpus_for(ds, rest)
        for i in by_source[source]:
            rows.append(i)
            flags.append(_score(ds, i, model, corpus, strong, opts) >= model.threshold)
    return rows, flags


def inner_score(ds: Dataset, rows: list[int], flags: list[bool]) -> float:
    """Mean attack-category TPR, less a penalty for pooled FPR above the budget."""
    cats: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    fp = n_benign = 0
    for i, f in zip(rows, flags, strict=True):
        if ds.labels[i] == 1:
            cats[ds.records[i].category][0] += int(f)
            cats[ds.records[i].category][1] += 1
        else:
            fp += int(f)
            n_benign += 1
    tpr = sum(h / n for h, n in cats.values()) / max(1, len(cats))
    fpr = fp / max(1, n_benign)
    return tpr - FPR_PENALTY * max(0.0, fpr - FPR_BUDGET)


def select(
    ds: Dataset,
    train: Sequence[int],
    options: Sequence[str],
    *,
    strong: float = 0.9,
    memo: Memo | None = None,
) -> tuple[str, dict[str, float]]:
    """Return the option with the best inner leave-one-source-out score on rows ``train``."""
    memo = {} if memo is None else memo
    scores = {}
    for name in options:
        rows, flags = _loso(ds, train, OPTIONS[name], strong, memo)
        scores[name] = round(inner_score(ds, rows, flags), 4)
    best = max(options, key=lambda n: (scores[n], -list(options).index(n)))
    return best, scores


def _plan(
    ds: Dataset, train: list[int], test: list[int], options: Sequence[str], strong: float
) -> tuple[dict[str, Any] | None, float, list[float], list[bool]]:
    """Fit (option chosen by nested LOSO when there are several) on ``train``; score ``test``."""
    memo: Memo = {}
    option, chosen = options[0], None
    if len(options) > 1:
        option, inner = select(ds, train, options, strong=strong, memo=memo)
        chosen = {"option": option, "inner_scores": inner}
    opts = OPTIONS[option]
    model = fit(ds, train, strong=strong, options=opts, memo=memo)
    corpus = corpus_for(ds, train)
    scores = [_score(ds, i, model, corpus, strong, opts) for i in test]
    return chosen, model.threshold, scores, [s >= model.threshold for s in scores]


_FORKED: Dataset | None = None


def _plan_forked(args: tuple[list[int], list[int], Sequence[str], float]) -> Any:
    assert _FORKED is not None
    return _plan(_FORKED, *args)


def evaluate(
    ds: Dataset, *, strong: float = 0.9, options: Sequence[str] = ("base",), jobs: int = 1
) -> dict[str, Any]:
    """Leave-one-source-out (nested choice among ``options``): per source/category, pooled.

    ``jobs`` > 1 runs the outer folds in that many forked processes (same results: every fold
    is deterministic and independent of the others).
    """
    global _FORKED
    trainable = sorted({s for s in ds.sources.tolist() if SOURCES[s].use == "train"})
    folds: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(ds.sources.tolist()):
        folds[s].append(i)
    flagged = [False] * len(ds.records)
    scores = [0.0] * len(ds.records)
    thresholds: dict[str, float] = {}
    chosen: dict[str, Any] = {}
    full_train = [i for s in trainable for i in folds[s]]
    plans = [(s, [i for i in full_train if ds.sources[i] != s], folds[s]) for s in trainable]
    evals = [i for s, rows in folds.items() if s not in trainable for i in rows]
    if evals:
        plans.append(("(eval-only sources)", full_train, evals))
    work = [(train, test, tuple(options), strong) for _, train, test in plans]
    if jobs > 1:
        import multiprocessing

        _FORKED = ds
        try:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                results = list(pool.imap(_plan_forked, work, chunksize=1))
        finally:
            _FORKED = None
    else:
        results = [_plan(ds, *w) for w in work]
    for (name, _, test), (choice, threshold, sc, fl) in zip(plans, results, strict=True):
        thresholds[name] = threshold
        if choice is not None:
            chosen[name] = choice
        for i, s, f in zip(test, sc, fl, strict=True):
            scores[i], flagged[i] = s, f
    report = _report(ds, flagged, thresholds, scores)
    report["options"] = list(options)
    report["chosen"] = chosen
    return report


def _rate(hits: int, n: int) -> dict[str, Any]:
    return {"rate": round(hits / n, 4) if n else None, "hits": hits, "n": n}


def _pooled(ds: Dataset, flagged: list[bool], keep: Any) -> dict[str, Any]:
    att = [f for r, f in zip(ds.records, flagged, strict=True) if keep(r) and r.label == "attack"]
    ben = [f for r, f in zip(ds.records, flagged, strict=True) if keep(r) and r.label == "benign"]
    return {"tpr": _rate(sum(att), len(att)), "fpr": _rate(sum(ben), len(ben))}


ROUND1_SOURCES = frozenset(
    {
        "pyrit-in-the-wild", "pyrit-techniques", "pyrit-extraction", "pyrit-requests",
        "llmops-2026-11", "llmops-issue15", "python-docs", "man-pages", "pyrit-jailbreakchat",
        "pyrit-arth-singh", "pyrit-pliny", "pyrit-0din", "psfuzz-injections",
    }
)  # fmt: skip


def _report(
    ds: Dataset, flagged: list[bool], thresholds: dict[str, float], scores: list[float]
) -> dict[str, Any]:
    by_source: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    by_cat: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r, f in zip(ds.records, flagged, strict=True):
        row = by_source[r.source]
        if r.label == "attack":
            row[0] += int(f)
            row[1] += 1
            by_cat[r.category][0] += int(f)
            by_cat[r.category][1] += 1
        else:
            row[2] += int(f)
            row[3] += 1
    missed = sorted(
        (
            (s, r)
            for r, f, s in zip(ds.records, flagged, scores, strict=True)
            if r.label == "attack" and not f
        ),
        key=lambda t: -t[0],
    )
    false_pos = [r for r, f in zip(ds.records, flagged, strict=True) if r.label == "benign" and f]
    cat_rates = [v[0] / v[1] for v in by_cat.values() if v[1]]
    return {
        "pooled": _pooled(ds, flagged, lambda r: True),
        "pooled_without_psfuzz": _pooled(ds, flagged, lambda r: r.source != "psfuzz-injections"),
        "pooled_round1_sources": _pooled(ds, flagged, lambda r: r.source in ROUND1_SOURCES),
        # Hundreds of the attacks are in-the-wild jailbreaks: the mean over categories weighs
        # the small, harder categories as much as that one.
        "mean_category_tpr": round(sum(cat_rates) / len(cat_rates), 4) if cat_rates else None,
        "by_source": {
            s: {"use": SOURCES[s].use, "tpr": _rate(v[0], v[1]), "fpr": _rate(v[2], v[3])}
            for s, v in sorted(by_source.items())
        },
        "by_category": {c: _rate(v[0], v[1]) for c, v in sorted(by_cat.items())},
        "thresholds": thresholds,
        "missed_examples": [f"{r.source}/{r.category}: {r.text[:100]!r}" for _, r in missed[:20]],
        "false_positive_examples": [f"{r.source}: {r.text[:100]!r}" for r in false_pos[:20]],
    }
