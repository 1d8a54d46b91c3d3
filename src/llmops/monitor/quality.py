"""Signal groups over sampled traces: the hallucination monitor and query drift.

Unsupported-answer rates are Horvitz-Thompson estimates over the scored sample (weights
``1 / inclusion_p``), with intervals, per route and per prompt version. The judge's unfaithful
rate is corrected for the judge's error rates against human labels (Rogan-Gladen) when a
calibration run is configured. A rate is never reported from nothing: with sampled traces but
no scores the status is ``not_scored`` and the message says how to get them scored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.monitor.drift import query_drift as run_query_drift
from llmops.monitor.queries import Window, merge_scored, window_vectors
from llmops.monitor.signals import SignalValue
from llmops.monitor.stats import Rate, ht_rate, rogan_gladen, wilson

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.monitor.signals import Evaluator

__all__ = ["hallucination", "load_calibration", "query_drift"]


def load_calibration(settings: Settings) -> dict[str, Any] | None:
    """Return the judge's sensitivity/specificity for unfaithful answers from a calibration run.

    The file is an eval ``results.json`` whose rows carry human labels on the calibrated judge
    metric (``judge.min_kappa`` suites; see ``llmops.evals.calibration``). Positive here means
    *unfaithful*: sensitivity is the judge's TNR on faithfulness, specificity its TPR.
    """
    from llmops.errors import ConfigError
    from llmops.evals.calibration import calibrate
    from llmops.evals.records import RunResult

    cfg = settings.monitor.hallucination
    if not cfg.calibration:
        return None
    path = Path(cfg.calibration)
    path = path if path.is_absolute() else settings.root / path
    try:
        run = RunResult.model_validate_json(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read the judge calibration {path}: {str(exc).splitlines()[0]}",
            key="monitor.hallucination.calibration",
            hint="point it at the results.json of an eval run with human labels",
        ) from None
    figures = calibrate(run).get(cfg.calibration_metric) or run.calibration.get(
        cfg.calibration_metric
    )
    if not figures or figures.get("tpr") is None or figures.get("tnr") is None:
        raise ConfigError(
            f"{path} has no calibration for metric '{cfg.calibration_metric}'",
            key="monitor.hallucination.calibration_metric",
            hint=f"calibrated metrics there: {', '.join(sorted(run.calibration)) or 'none'}",
        )
    n_pass = n_fail = 0
    for row in run.rows:
        result = row.metrics.get(cfg.calibration_metric)
        if result is not None and "label" in result.details:
            label = result.details["label"]
            good = label is True or str(label).lower() in ("pass", "true", "yes", "1", "faithful")
            n_pass += int(good)
            n_fail += int(not good)
    n = int(figures.get("n") or 0)
    return {
        "file": str(path),
        "metric": cfg.calibration_metric,
        "sensitivity": float(figures["tnr"]),
        "specificity": float(figures["tpr"]),
        "n_pos": n_fail or n // 2,
        "n_neg": n_pass or n - n // 2,
        "kappa": figures.get("kappa"),
    }


def _rate_from(sums: dict[str, float]) -> Rate | None:
    return ht_rate(sums["sum_w"], sums["sum_wy"], sums["sum_a"], sums["sum_ay"], sums["sum_w2"])


def _merge(groups: list[Any], outcome: str) -> dict[str, float]:
    keys = ("sum_w", "sum_wy", "sum_a", "sum_ay", "sum_w2", "n", "n_yes")
    return {k: sum(g.sums[outcome][k] for g in groups) for k in keys}


def _rate_signal(name: str, route: str, sums: dict[str, float], status: str) -> SignalValue:
    rate = _rate_from(sums)
    if rate is None:
        return SignalValue(name, route, status, message=_STATUS_MESSAGES[status])
    naive = wilson(sums["n_yes"], sums["n"])
    return SignalValue(
        name, route, "ok", rate.value, rate.low, rate.high, n=sums["n"],
        message=f"{rate.value:.1%} [{rate.low:.1%}, {rate.high:.1%}] reweighted from "
        f"{int(sums['n'])} scored answers (unweighted {naive.value if naive else 0:.1%})",
        evidence={"effective_n": round(rate.n, 1), "unweighted": naive.as_dict() if naive else None},
    )  # fmt: skip


_STATUS_MESSAGES = {
    "no_data": "no sampled answers in the window",
    "not_scored": "sampled answers are waiting to be scored: run `llmops monitor watch` "
    "(or `llmops monitor score`)",
    "no_judge": "no judge verdicts: configure judge.base_url / judge.model",
    "not_applicable": "no scorable answers (abstentions, failed requests or no contexts)",
}


def hallucination(ev: Evaluator, route: str, window: Window) -> dict[str, Any]:
    """Unsupported-answer rate (groundedness) and the judge's unfaithful rate, per version."""
    groups = merge_scored(ev.scored(route, window), ("prompt_name", "prompt_version"))
    sampled = sum(g.sampled for g in groups)
    scored = sum(g.scored for g in groups)
    judged = sum(g.judged for g in groups)
    if sampled == 0:
        status = "no_data"
    elif scored == 0:
        status = "not_scored"
    else:
        status = "not_applicable"
    unsupported = _rate_signal("unsupported_rate", route, _merge(groups, "unsupported"), status)
    judge_status = status if scored == 0 else "no_judge"
    unfaithful = _rate_signal(
        "judge_unfaithful_rate", route, _merge(groups, "unfaithful"), judge_status
    )
    if unfaithful.status == "ok":
        _correct(ev, unfaithful)
    backlog = SignalValue(
        "scoring_backlog", route, "ok", float(sampled - scored), n=sampled,
        message=f"{scored} of {sampled} sampled traces scored",
    )  # fmt: skip
    if scored < sampled and unsupported.status == "ok":
        unsupported.message += f"; {sampled - scored} sampled traces not scored yet"
    versions = []
    for g in groups:
        rate = _rate_from(g.sums["unsupported"])
        versions.append(
            {
                "prompt": f"{g.keys['prompt_name']}@{g.keys['prompt_version']}"
                if g.keys["prompt_name"]
                else None,
                "sampled": g.sampled,
                "scored": g.scored,
                "unsupported_rate": rate.as_dict() if rate else None,
            }
        )
    details = {
        "sampled": sampled,
        "scored": scored,
        "judged": judged,
        "score_errors": sum(g.errors for g in groups),
        "last_error": next((g.last_error for g in groups if g.last_error), None),
        "by_version": versions,
    }
    signals = {
        "unsupported_rate": unsupported,
        "judge_unfaithful_rate": unfaithful,
        "scoring_backlog": backlog,
    }
    return {"signals": signals, "details": details}


def _correct(ev: Evaluator, signal: SignalValue) -> None:
    calib = load_calibration(ev.settings)
    if calib is None:
        signal.evidence["correction"] = "none: no judge calibration configured"
        return
    assert signal.value is not None and signal.n is not None
    observed = Rate(signal.value, signal.low or 0.0, signal.high or 1.0, signal.n)
    corrected, note = rogan_gladen(
        observed, calib["sensitivity"], calib["specificity"], calib["n_pos"], calib["n_neg"]
    )
    signal.evidence["correction"] = note
    signal.evidence["observed"] = observed.as_dict()
    if corrected is not None:
        signal.value, signal.low, signal.high = corrected.value, corrected.low, corrected.high
        signal.message = (
            f"{corrected.value:.1%} [{corrected.low:.1%}, {corrected.high:.1%}] after the judge's "
            f"error rates (observed {observed.value:.1%}); {note}"
        )


def query_drift(ev: Evaluator, route: str, window: Window) -> dict[str, Any]:
    """The embedded queries of ``window`` against the golden set or the reference window.

    A fresh stored result (``llmops.monitor.drift_cache``: computed by ``monitor watch`` or an
    earlier reader) is reused; otherwise the test runs and its result is stored.
    """
    from llmops.monitor.drift_cache import CachedDrift, DriftCache, reference_key
    from llmops.monitor.settings import parse_duration

    cfg = ev.settings.monitor.drift
    cache = DriftCache(ev.store)
    key = reference_key(ev.settings, route)
    found = cache.get(route, window, key, parse_duration(cfg.cache_fresh))
    if found is not None:
        signal = SignalValue(**found.result["signal"])
        age = found.age(window.end)
        signal.evidence["cached"] = {
            "computed_at": found.computed_at, "window_end": found.window_end, "age_s": round(age, 1),
        }  # fmt: skip
        if age >= 1:  # the same window and data at age 0: the very result a rerun gives
            signal.message += f" (computed {age:.0f} s before this window's end)"
        return {"signals": {"query_drift": signal}, "details": found.result["details"]}
    seen = cache.vectors_seen()  # before reading: a vector written meanwhile invalidates it
    out = _compute_query_drift(ev, route, window)
    if out["signals"]["query_drift"].status != "unknown":
        from dataclasses import asdict

        entry = {"signal": asdict(out["signals"]["query_drift"]), "details": out["details"]}
        cache.put(route, window, key, CachedDrift(entry, window.end, ev.clock(), seen))
    return out


def _compute_query_drift(ev: Evaluator, route: str, window: Window) -> dict[str, Any]:
    from llmops.errors import LLMOpsError
    from llmops.monitor.reference import golden_reference

    cfg = ev.settings.monitor.drift
    cur, cur_texts = window_vectors(ev.store, window, route, cfg.max_window)
    golden = cfg.golden_sets.get(route)
    label = ""
    ref: Any
    if golden:
        try:
            ref, ref_texts, label = golden_reference(ev.settings, golden)
        except LLMOpsError as exc:
            signal = SignalValue("query_drift", route, "unknown", message=exc.message)
            return {"signals": {"query_drift": signal}, "details": {}}
    else:
        ref_window = ev.reference_window(window)
        ref, ref_texts = window_vectors(ev.store, ref_window, route, cfg.max_window)
        label = f"the {ev.settings.monitor.drift.reference_window} before the window"
    import numpy as np

    current = np.zeros((0, 1), dtype=np.float32) if cur is None else cur
    texts = (ref_texts, cur_texts) if ref is not None else None
    result = run_query_drift(ref, current, texts=texts, settings=cfg)
    status = {"no_reference": "no_data"}.get(result.status, result.status)
    signal = SignalValue(
        "query_drift", route, status, value=result.statistic, p_value=result.p_value,
        effect=result.z, n=result.n_cur, message=result.message,
        evidence={
            "reference": label, "n_ref": result.n_ref, "n_cur": result.n_cur,
            "permutations": result.permutations,
            "topics": [t.__dict__ for t in result.topics],
        },
    )  # fmt: skip
    return {"signals": {"query_drift": signal}, "details": json.loads(json.dumps(result.as_dict()))}
