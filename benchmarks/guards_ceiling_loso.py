"""The leave-one-source-out part of ``guards_ceiling.py`` (round 5): folds, fits, thresholds.

Same folds and threshold rule as ``llmops.guards.evaluation`` (rounds 2-4): one fold per training
source (the model rebuilt without it), one fold of every training source scoring the
evaluation-only sources; the threshold from the training rows' benign scores only, out-of-fold
by source (5 grouped inner folds), at training FPR <= 0.01.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

STRONG = 0.9
INNER = 5
Fold = tuple[str, list[int], list[int]]


def folds_of(sources: Sequence[str]) -> list[Fold]:
    """(name, train rows, test rows) per fold, in ``llmops.guards.evaluation``'s order."""
    from llmops.guards.sources import SOURCES

    trainable = sorted({s for s in sources if SOURCES[s].use == "train"})
    full = [i for s in trainable for i, x in enumerate(sources) if x == s]
    out: list[Fold] = []
    for s in trainable:
        out.append(
            (s, [i for i in full if sources[i] != s], [i for i, x in enumerate(sources) if x == s])
        )
    evals = [i for i, x in enumerate(sources) if SOURCES[x].use != "train"]
    if evals:
        out.append(("(eval-only sources)", full, evals))
    return out


def ds_like(recs: list[Any]) -> Any:
    """What ``train._weights`` and ``evaluation._report`` read: records, labels, sources."""
    return SimpleNamespace(
        records=recs,
        labels=np.asarray([1 if r.label == "attack" else 0 for r in recs], dtype=np.int64),
        sources=np.asarray([r.source for r in recs]),
    )


def _fit_lr(x: Any, y: Any, sw: Any, c: float, logit: bool) -> Callable[[Any], Any]:
    from sklearn.linear_model import LogisticRegression

    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-6
    lr = LogisticRegression(C=c, max_iter=3000).fit((x - mu) / sd, y, sample_weight=sw)
    if logit:
        return lambda z: lr.decision_function((z - mu) / sd)
    return lambda z: lr.predict_proba((z - mu) / sd)[:, 1]


#: Round 5a (the protocol): C = 1, thresholds on probabilities. Round 5b (the addendum): C per
#: fold from these by grouped out-of-fold training TPR at FPR <= 0.01, thresholds on the logit.
C_GRID = (0.001, 0.01, 0.1, 1.0)


class Variant:
    """Features + logistic regression; ``floor``: a pattern score >= 0.9 decides alone."""

    def __init__(self, x: Any, pattern: Any, floor: bool, rule: str = "5b") -> None:
        self.x, self.pattern, self.floor = x, pattern, floor
        self.logit = rule == "5b"
        self.cs = C_GRID if self.logit else (1.0,)
        # The floor's cap on the threshold (0.9) and what a pattern-decided text scores.
        self.cap = (math.log(STRONG / (1 - STRONG)) if self.logit else STRONG) if floor else (
            math.inf if self.logit else 1.0)  # fmt: skip

    def fit_score(self, ds: Any, train: list[int], test: list[int], c: float) -> Any:
        from llmops.guards.train import _weights

        train_a = np.asarray(train)
        soft = self.pattern[train_a] < STRONG if self.floor else np.ones(len(train), bool)
        sw = _weights(ds, train)
        model = _fit_lr(self.x[train_a[soft]], ds.labels[train_a[soft]], sw[soft], c, self.logit)
        s = model(self.x[np.asarray(test)])
        if self.floor:
            p = self.pattern[np.asarray(test)]
            s = np.where(p >= STRONG, 1e9 if self.logit else p, s)
        return s


def threshold_for(variant: Any, ds: Any, train: list[int]) -> tuple[float, float]:
    """(C, threshold): grouped out-of-fold scores of the training rows -> ``train._threshold``.

    C: the highest out-of-fold TPR among those with out-of-fold FPR <= 0.01 (a threshold stuck
    at the cap can exceed it); if none, the lowest FPR; ties: the smaller C.
    """
    from sklearn.model_selection import GroupKFold

    from llmops.guards.train import _threshold

    groups = ds.sources[train]
    y = ds.labels[train]
    n = min(INNER, len(set(groups.tolist())))
    best: tuple[tuple[bool, float], float, float] | None = None
    for c in variant.cs:
        oof = np.zeros(len(train))
        for tr, te in GroupKFold(n_splits=n).split(train, groups=groups):
            oof[te] = variant.fit_score(ds, [train[j] for j in tr], [train[j] for j in te], c)
        thr = _threshold(oof[y == 0], variant.cap)
        fpr = float((oof[y == 0] >= thr).mean())
        ok = fpr <= 0.01
        key = (ok, float((oof[y == 1] >= thr).mean()) if ok else -fpr)
        if best is None or key > best[0]:
            best = (key, c, thr)
    assert best is not None
    return best[1], best[2]


def loso(variant: Any, ds: Any, jobs: int = 1) -> tuple[list[float], list[bool], dict[str, Any]]:
    """Held-out scores and flags of every row, and each fold's (C, threshold)."""
    folds = folds_of(ds.sources.tolist())
    work = [(variant, ds, train, test) for _, train, test in folds]
    if jobs > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            results = pool.starmap(_fold, work, chunksize=1)
    else:
        results = [_fold(*w) for w in work]
    scores = [0.0] * len(ds.records)
    flags = [False] * len(ds.records)
    thresholds = {}
    for (name, _, test), (c, thr, sc) in zip(folds, results, strict=True):
        thresholds[name] = {"C": c, "threshold": thr}
        for i, s in zip(test, sc, strict=True):
            scores[i], flags[i] = float(s), bool(s >= thr)
    return scores, flags, thresholds


def _fold(variant: Any, ds: Any, train: list[int], test: list[int]) -> tuple[float, float, Any]:
    c, thr = threshold_for(variant, ds, train)
    return c, thr, variant.fit_score(ds, train, test, c)


def oracle(ds: Any, scores: Sequence[float]) -> dict[str, Any]:
    """Pooled TPR at the one threshold putting pooled held-out FPR at <= 0.01 (never used)."""
    s = np.asarray(scores)
    benign = np.sort(s[ds.labels == 0])[::-1]
    bar = benign[int(np.floor(0.01 * benign.size))]
    att = s[ds.labels == 1]
    return {"tpr": round(float((att > bar).mean()), 4),
            "fpr": round(float((benign > bar).mean()), 4)}  # fmt: skip


def summary(report: dict[str, Any]) -> dict[str, Any]:
    cats = report["by_category"]
    return {
        "pooled": report["pooled"],
        "pooled_without_psfuzz": report["pooled_without_psfuzz"],
        "mean_category_tpr": report["mean_category_tpr"],
        "categories_at_0.90": sum(1 for c in cats.values() if c["rate"] >= 0.90),
        "by_source": {s: {"tpr": v["tpr"]["rate"], "tpr_hits": f"{v['tpr']['hits']}/{v['tpr']['n']}",
                          "fpr": v["fpr"]["rate"], "fpr_hits": f"{v['fpr']['hits']}/{v['fpr']['n']}"}
                      for s, v in report["by_source"].items()},
        "by_category": {c: f"{v['rate']} ({v['hits']}/{v['n']})" for c, v in cats.items()},
        "thresholds": report["thresholds"],
        "missed_examples": report["missed_examples"][:8],
        "false_positive_examples": report["false_positive_examples"][:8],
    }  # fmt: skip


def _cache_file(args: argparse.Namespace, recs: list[Any], kind: str) -> Path:
    from guards_ceiling import _digest

    return args.cache / f"{kind}-{_digest(recs)}.npz"


def frozen(args: argparse.Namespace, recs: list[Any]) -> dict[str, Any]:
    from llmops.guards.evaluation import _report

    v = np.load(_cache_file(args, recs, "vectors"))
    ds = ds_like(recs)
    pat = np.stack([v["pattern"], v["npat"]], axis=1)
    win = np.hstack([v["doc"], v["wmax"], v["wmean"]]).astype(np.float64)
    variants = {
        "tf_doc": Variant(v["doc"].astype(np.float64), v["pattern"], False, args.rule),
        "tf_win": Variant(win, v["pattern"], False, args.rule),
        "tf_win_pat": Variant(np.hstack([win, pat]), v["pattern"], True, args.rule),
    }
    out: dict[str, Any] = {"rule": args.rule, "variants": {}}
    flags_of: dict[str, list[bool]] = {}
    for name in args.variants.split(","):
        scores, flags, thresholds = loso(variants[name], ds, args.jobs)
        flags_of[name] = flags
        rep = summary(_report(ds, flags, thresholds, scores))
        out["variants"][name] = {**rep, "oracle": oracle(ds, scores)}
    shipped = _cache_file(args, recs, "shipped")
    if shipped.is_file() and "tf_win_pat" in flags_of:
        sf = np.load(shipped)["flagged"].astype(bool)
        either = [bool(a or b) for a, b in zip(sf, flags_of["tf_win_pat"], strict=True)]
        rep = summary(_report(ds, either, {}, [float(f) for f in either]))
        out["variants"]["tf_or_shipped"] = rep
        out["shipped_recomputed"] = summary(_report(ds, sf.tolist(), {}, [float(f) for f in sf]))
    return out


def shipped_flags(args: argparse.Namespace, recs: list[Any]) -> dict[str, Any]:
    """The shipped option's held-out flags per text (``evaluation._plan`` over the same folds)."""
    from llmops.guards import evaluation
    from llmops.guards.train import featurize

    ds = featurize(recs)
    folds = folds_of(ds.sources.tolist())
    work = [(train, test, ("chars_patsig",), STRONG) for _, train, test in folds]
    evaluation._FORKED = ds
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(max(1, args.jobs)) as pool:
        results = list(pool.imap(evaluation._plan_forked, work, chunksize=1))
    flagged = np.zeros(len(recs), dtype=bool)
    scores = np.zeros(len(recs))
    for (_, _, test), (_, _, sc, fl) in zip(folds, results, strict=True):
        flagged[test], scores[test] = fl, sc
    np.savez(_cache_file(args, recs, "shipped"), flagged=flagged, scores=scores)
    return {"pooled_tpr": round(float(flagged[ds.labels == 1].mean()), 4),
            "pooled_fpr": round(float(flagged[ds.labels == 0].mean()), 4),
            "oracle": oracle(ds, scores.tolist())}  # fmt: skip
