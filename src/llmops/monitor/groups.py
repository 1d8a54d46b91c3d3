"""Signal groups computed from rollups: operational, answers, retrieval, staleness.

Each function takes the ``Evaluator``, a route and a window and returns
``{"signals": {name: SignalValue}, "details": {...}}``. Tests compare the window with the
reference span before it (``monitor.drift.reference_window``) with exact permutation p-values,
and call drift only when the change is also large enough to matter (``min_psi``, ``min_ks``,
``min_rate_change``). The groups over sampled traces live in ``quality`` and ``release``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmops.monitor.quality import hallucination, query_drift
from llmops.monitor.queries import RollupTotals, Window, merge_totals
from llmops.monitor.release import release
from llmops.monitor.signals import SignalValue
from llmops.monitor.stats import (
    TestResult,
    binned_test,
    hist_quantile,
    ks_stat,
    psi_stat,
    rate_diff_stat,
    wilson,
)
from llmops.traces.rollup import BINS

if TYPE_CHECKING:
    from llmops.monitor.signals import Evaluator

__all__ = [
    "answers",
    "hallucination",
    "hist_tests",
    "operational",
    "query_drift",
    "rate_signal",
    "rate_tests",
    "rows",
    "release",
    "retrieval",
    "source_mix_signal",
    "staleness",
    "drift_signal",
    "totals",
]


def rows(ev: Evaluator, route: str, window: Window) -> list[RollupTotals]:
    """Return the route's rollups per (arm, prompt) over ``window``."""
    return ev.rollups(route, window)


def totals(ev: Evaluator, route: str, window: Window) -> RollupTotals | None:
    """Return the route's rollup totals over ``window`` (None without traffic)."""
    found = merge_totals(rows(ev, route, window), ("route",))
    return found[0] if found and found[0]["n"] > 0 else None


def rate_signal(name: str, route: str, k: float, n: float, what: str) -> SignalValue:
    """Return a Wilson-interval rate signal, or ``no_data`` when ``n`` is 0."""
    found = wilson(k, n)
    if found is None:
        return SignalValue(name, route, "no_data", message=f"no {what} in the window")
    return SignalValue(
        name, route, "ok", found.value, found.low, found.high, n=n,
        message=f"{found.value:.1%} [{found.low:.1%}, {found.high:.1%}] of {int(n)} {what}",
    )  # fmt: skip


def drift_signal(
    ev: Evaluator,
    name: str,
    route: str,
    tests: list[tuple[str, TestResult | None, float]],
) -> SignalValue:
    """Combine tests (Bonferroni): drift when one rejects at alpha/len with a large effect."""
    cfg = ev.settings.monitor.drift
    run = [(label, t, floor) for label, t, floor in tests if t is not None]
    if not run:
        return SignalValue(name, route, "no_data", message="no data in the window")
    first = run[0][1]
    n_ref, n_cur = first.n_ref, first.n_cur
    if n_cur == 0:
        return SignalValue(name, route, "no_data", message="no data in the window (not 0 drift)")
    if n_ref < cfg.min_window or n_cur < cfg.min_window:
        return SignalValue(
            name, route, "too_few", n=n_cur,
            message=f"too few observations for the test ({n_cur} now, {n_ref} in the reference; "
            f"needs {cfg.min_window} each)",
        )  # fmt: skip
    level = cfg.alpha / len(run)
    fired = [(label, t) for label, t, floor in run if t.p_value < level and t.statistic >= floor]
    worst = min(run, key=lambda item: item[1].p_value)
    label, test = fired[0] if fired else (worst[0], worst[1])
    p = min(1.0, test.p_value * len(run))
    evidence: dict[str, Any] = {
        lab: {"statistic": round(t.statistic, 4), "p_value": round(t.p_value, 5)}
        for lab, t, _ in run
    }
    evidence.update({"n_ref": n_ref, "n_cur": n_cur, "alpha": cfg.alpha})
    evidence["effect_ok"] = any(t.statistic >= floor for _, t, floor in run)
    status = "drift" if fired else "no_drift"
    verdict = "drifted" if fired else "no drift"
    return SignalValue(
        name, route, status, value=test.statistic, p_value=p, effect=test.statistic, n=n_cur,
        message=f"{verdict}: {label} {test.statistic:.3f}, p = {p:.4f} ({n_cur} vs {n_ref})",
        evidence=evidence,
    )  # fmt: skip


def hist_tests(ev: Evaluator, cur: list[float], ref: list[float]) -> list[Any]:
    cfg = ev.settings.monitor.drift
    if sum(cur) == 0 or sum(ref) == 0:
        n = (sum(ref), sum(cur))
        empty = TestResult(0.0, 1.0, int(n[0]), int(n[1]))
        return [("KS", empty, cfg.min_ks)]
    perms = cfg.permutations
    return [
        ("KS", binned_test(ref, cur, ks_stat, permutations=perms), cfg.min_ks),
        ("PSI", binned_test(ref, cur, psi_stat, permutations=perms), cfg.min_psi),
    ]


def rate_tests(ev: Evaluator, k_cur: float, n_cur: float, k_ref: float, n_ref: float) -> Any:
    cfg = ev.settings.monitor.drift
    test = binned_test(
        [n_ref - k_ref, k_ref], [n_cur - k_cur, k_cur], rate_diff_stat,
        permutations=cfg.permutations,
    )  # fmt: skip
    return [("rate change", test, cfg.min_rate_change)]


def _latency(name: str, route: str, tot: RollupTotals | None, q: float) -> SignalValue:
    if tot is None or tot["latency_n"] == 0:
        return SignalValue(name, route, "no_data", message="no requests in the window")
    found = hist_quantile(BINS["latency"].edges, tot.bins["latency"], q)
    assert found is not None  # latency_n > 0
    at, lo, hi = (v / 1000 for v in found)
    return SignalValue(
        name, route, "ok", at, lo, hi, n=tot["latency_n"],
        message=f"{at * 1000:.0f} ms [{lo * 1000:.0f}, {hi * 1000:.0f}] (histogram bins)",
    )  # fmt: skip


def operational(ev: Evaluator, route: str, window: Window) -> dict[str, Any]:
    """Latency percentiles, error, fallback and guard-block rates, tokens."""
    tot = totals(ev, route, window)
    n = tot["n"] if tot else 0.0
    signals = {
        "error_rate": rate_signal("error_rate", route, tot["errors"] if tot else 0, n, "requests"),
        "fallback_rate": rate_signal(
            "fallback_rate", route, tot["fallbacks"] if tot else 0, n, "requests"
        ),
        "guard_block_rate": rate_signal(
            "guard_block_rate", route, tot["guard_blocks"] if tot else 0, n, "requests"
        ),
        "latency_p50": _latency("latency_p50", route, tot, 0.5),
        "latency_p95": _latency("latency_p95", route, tot, 0.95),
        "latency_p99": _latency("latency_p99", route, tot, 0.99),
    }
    versions = []
    for row in rows(ev, route, window):
        if row["n"] == 0:
            continue
        p50 = hist_quantile(BINS["latency"].edges, row.bins["latency"], 0.5)
        versions.append(
            {
                "prompt": row.keys["prompt"] or None,
                "arm": row.keys["arm"] or None,
                "requests": int(row["n"]),
                "errors": int(row["errors"]),
                "prompt_tokens": int(row["prompt_tokens"]),
                "completion_tokens": int(row["completion_tokens"]),
                "latency_p50_ms": round(p50[0], 1) if p50 else None,
            }
        )
    details = {
        "requests": int(n),
        "client_errors": int(tot["client_errors"]) if tot else 0,
        "guard_fired": int(tot["guard_fired"]) if tot else 0,
        "prompt_tokens": int(tot["prompt_tokens"]) if tot else 0,
        "completion_tokens": int(tot["completion_tokens"]) if tot else 0,
        "tokens_per_request": round((tot["prompt_tokens"] + tot["completion_tokens"]) / n, 1)
        if tot and n
        else None,
        "by_version": sorted(versions, key=lambda v: -int(v["requests"] or 0)),
    }
    return {"signals": signals, "details": details}


def answers(ev: Evaluator, route: str, window: Window) -> dict[str, Any]:
    """Abstention and refusal rates, answer length, and their drift against the reference."""
    tot = totals(ev, route, window)
    ref = totals(ev, route, ev.reference_window(window))
    answered = tot["answered"] if tot else 0.0
    r_answered = ref["answered"] if ref else 0.0
    empty = [0.0] * len(BINS["answer_chars"].columns)

    def drift(name: str, tests: list[Any]) -> SignalValue:
        return drift_signal(ev, name, route, tests)

    signals = {
        "abstention_rate": rate_signal(
            "abstention_rate", route, tot["abstained"] if tot else 0, answered, "answers"
        ),
        "refusal_rate": rate_signal(
            "refusal_rate", route, tot["refused"] if tot else 0, answered, "answers"
        ),
        "answer_length_drift": drift(
            "answer_length_drift",
            hist_tests(
                ev,
                tot.bins["answer_chars"] if tot else empty,
                ref.bins["answer_chars"] if ref else empty,
            ),
        ),
    }
    for counter, name in (("abstained", "abstention_drift"), ("refused", "refusal_drift")):
        k_cur, k_ref = (tot[counter] if tot else 0), (ref[counter] if ref else 0)
        signals[name] = drift(name, rate_tests(ev, k_cur, answered, k_ref, r_answered))
    mean_len = tot["answer_chars"] / answered if tot and answered else None
    ref_len = ref["answer_chars"] / r_answered if ref and r_answered else None
    details = {"answers": int(answered), "mean_chars": mean_len, "reference_mean_chars": ref_len}
    return {"signals": signals, "details": details}


def _low_share(tot: RollupTotals, threshold: float) -> tuple[float, float]:
    edges = BINS["top1"].edges
    usable = [e for e in edges if e <= threshold]
    cut = len(usable)  # bins 0..cut-1 end at or below the threshold edge
    return sum(tot.bins["top1"][:cut]), (usable[-1] if usable else float("-inf"))


def _source_mix(ev: Evaluator, route: str, window: Window) -> tuple[SignalValue, list[Any]]:
    return source_mix_signal(
        ev, route, ev.sources(route, window), ev.sources(route, ev.reference_window(window))
    )


def source_mix_signal(
    ev: Evaluator, route: str, cur: dict[str, float], ref: dict[str, float]
) -> tuple[SignalValue, list[Any]]:
    """Test top-1 source counts against the reference (chi-square permutation test, TVD)."""
    names = sorted(set(cur) | set(ref))
    c = [cur.get(s, 0.0) for s in names]
    r = [ref.get(s, 0.0) for s in names]
    if not names or sum(c) == 0:
        return SignalValue("source_mix_drift", route, "no_data", message="no retrieval"), []
    cfg = ev.settings.monitor.drift
    from llmops.monitor.stats import chi2_stat

    test = binned_test(r, c, chi2_stat, permutations=cfg.permutations)
    tot_c, tot_r = sum(c) or 1, sum(r) or 1
    tvd = 0.5 * sum(abs(a / tot_c - b / tot_r) for a, b in zip(c, r, strict=True))
    effect = TestResult(tvd, test.p_value, test.n_ref, test.n_cur)
    signal = drift_signal(ev, "source_mix_drift", route, [("TVD", effect, cfg.min_rate_change)])
    shares = [
        (s, round(a / tot_c, 4), round(b / tot_r, 4)) for s, a, b in zip(names, c, r, strict=True)
    ]
    shares.sort(key=lambda m: -abs(m[1] - m[2]))
    movers = [{"source": s, "share": a, "reference_share": b} for s, a, b in shares[:5]]
    return signal, movers


def retrieval(ev: Evaluator, route: str, window: Window) -> dict[str, Any]:
    """Retrieval quality: score distributions, empty/low/out-of-coverage rates, source mix."""
    tot = totals(ev, route, window)
    ref = totals(ev, route, ev.reference_window(window))
    rag = tot["rag"] if tot else 0.0
    names = ("empty_retrieval_rate", "low_score_rate", "out_of_coverage_rate", "top1_drift")
    if not rag:
        none = {
            n: SignalValue(n, route, "no_data", message="no retrieval in the window")
            for n in (*names, "topk_drift", "source_mix_drift")
        }
        return {"signals": none, "details": {"retrievals": 0}}
    assert tot is not None
    threshold = ev.settings.monitor.sampler.low_score
    low, edge = _low_share(tot, threshold)
    scored = sum(tot.bins["top1"])
    low_signal = rate_signal("low_score_rate", route, low, scored, "retrievals")
    low_signal.message += f" (top-1 score < {edge:.2f})"
    empty = [0.0] * len(BINS["top1"].columns)
    mix, movers = _source_mix(ev, route, window)
    signals = {
        "empty_retrieval_rate": rate_signal(
            "empty_retrieval_rate", route, tot["empty_retrieval"], rag, "retrievals"
        ),
        "low_score_rate": low_signal,
        "out_of_coverage_rate": rate_signal(
            "out_of_coverage_rate",
            route,
            tot["out_of_coverage"],
            tot["coverage_known"],
            "retrievals with a known coverage threshold",
        ),  # fmt: skip
        "top1_drift": drift_signal(
            ev,
            "top1_drift",
            route,
            hist_tests(ev, tot.bins["top1"], ref.bins["top1"] if ref else empty),
        ),  # fmt: skip
        "topk_drift": drift_signal(
            ev,
            "topk_drift",
            route,
            hist_tests(ev, tot.bins["topk"], ref.bins["topk"] if ref else empty),
        ),  # fmt: skip
        "source_mix_drift": mix,
    }
    if tot["coverage_known"] < rag:
        signals["out_of_coverage_rate"].evidence["coverage_known_share"] = round(
            tot["coverage_known"] / rag, 4
        )
    details = {
        "retrievals": int(rag),
        "coverage_known": int(tot["coverage_known"]),
        "top_sources": movers,
    }
    return {"signals": signals, "details": details}


def staleness(ev: Evaluator, route: str, window: Window) -> dict[str, Any]:
    """Sources changed since the served index was built; query vs index embedding model."""
    import sqlalchemy as sa

    t = ev.store.table
    stmt = (
        sa.select(
            t.c.index_pipeline, t.c.index_version, t.c.index_embedding_model,
            t.c.query_embedding_model,
        )
        .where(t.c.route == route, t.c.ts < window.end, t.c.ts >= window.start)
        .where(t.c.index_pipeline.is_not(None))
        .order_by(t.c.ts.desc())
        .limit(1)
    )  # fmt: skip
    with ev.store.engine.connect() as conn:
        row = conn.execute(stmt).first()
    if row is None:
        none = {
            n: SignalValue(n, route, "no_data", message="no retrieval in the window")
            for n in ("stale_sources", "embedding_mismatch")
        }
        return {"signals": none, "details": {}}
    pipeline, version, index_model, query_model = row
    details: dict[str, Any] = {"pipeline": pipeline, "index_version": version}
    info = ev.cached_staleness(
        f"{pipeline}@{version}", 300.0, lambda: _changed(ev, pipeline, version)
    )
    details.update(info)
    if "error" in info:
        stale = SignalValue("stale_sources", route, "unknown", message=info["error"])
    else:
        changed = len(info["added"]) + len(info["changed"]) + len(info["removed"])
        stale = SignalValue(
            "stale_sources", route, "ok", float(changed),
            message=f"{changed} source file(s) changed since {pipeline}@{version} was built",
            evidence={k: info[k][:10] for k in ("added", "changed", "removed")},
        )  # fmt: skip
    index_model = index_model or info.get("index_embedding_model")
    mismatch = bool(index_model and query_model and index_model != query_model)
    mismatch = mismatch or bool(info.get("model_changed"))
    model = SignalValue(
        "embedding_mismatch", route, "ok", 1.0 if mismatch else 0.0,
        message=(
            f"queries are embedded with {query_model}, the index with {index_model}"
            if mismatch
            else f"query and index embedding model agree ({index_model or query_model})"
        ),
    )  # fmt: skip
    return {"signals": {"stale_sources": stale, "embedding_mismatch": model}, "details": details}


def _changed(ev: Evaluator, pipeline: str, version: str) -> dict[str, Any]:
    from llmops.errors import LLMOpsError

    path = ev.settings.state_path / "rag" / pipeline / "manifests" / f"{version}.json"
    if not path.is_file():  # checked before importing the RAG package (a report stays fast)
        return {"error": f"no manifest for {pipeline}@{version} under the state root"}
    from llmops.rag import Pipeline
    from llmops.rag.manifest import ManifestStore

    manifest = ManifestStore(ev.settings.state_path, pipeline).read(version)
    if manifest is None:
        return {"error": f"the manifest of {pipeline}@{version} is unreadable"}
    try:
        pipe = Pipeline.from_name(pipeline, ev.settings)
        found = pipe.changed_files(manifest)
    except LLMOpsError as exc:
        return {"error": f"cannot compare the sources of {pipeline}: {exc.message}"}
    return {
        **found,
        "index_embedding_model": manifest.embedding_model,
        "model_changed": manifest.embedding_model != pipe.model_spec,
    }
