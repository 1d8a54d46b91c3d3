"""Guardrail quality on the held-out split and latency of the default guard set, same run.

Quality: injection TPR/FPR per category and PII span recall/precision per type, on the split
the patterns and the calibration were NOT tuned on (``--split train`` shows the other one).
Latency: the default input+output guards (``llmops.guards.default_guards``) on 1,000-character
messages, p50/p99 over ``--reps`` calls, for three messages:

- ``plain``: ordinary prose without cue words;
- ``lookalike``: prose with cue words ("ignore", "instructions", "system prompt") but no
  pattern evidence: patterns only, the embedding is skipped;
- ``uncertain``: prose where a weak pattern fires ("act as", "pretend"), so the embedding layer
  runs on its cue sentences (cache cleared before every call): the worst case;
- ``uncertain_cached``: the same text again (embedding cache hit).

Peers measured in the same run: the same guards composed through guardrails' ``Guard.validate``
(``engine=guardrails``) and the floor (a pipeline with no guards). Prints ONE JSON document.

    python benchmarks/bench_guards.py            # full
    python benchmarks/bench_guards.py --quick    # fewer repetitions
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "guards"
TARGETS = {"tpr": 0.95, "fpr": 0.03, "pii_recall": 0.99, "pii_precision": 0.97, "p50_ms": 5.0}

PLAIN = (
    "Our team met on Tuesday to review the spring catalogue. The new kettles sold well in the "
    "north, while the toasters lagged behind last year's numbers. Marta suggested a bundle "
    "offer for the holidays and a brighter cover photo. Shipping times improved after we moved "
    "the warehouse closer to the motorway, and returns fell by a third. The bakery next door "
    "asked whether we could stock their granola, which seems like a good fit for the breakfast "
    "shelf. We also discussed the website: customers want bigger pictures, clearer prices and "
    "a faster checkout. Jonas will draft a plan for the photo shoot, and Priya will compare two "
    "payment providers. Next meeting is in two weeks, same room, same time, with coffee. "
)
LOOKALIKE = (
    "Before the release, please ignore the flaky lint warnings in the old module; they are "
    "tracked separately. The setup instructions in the README are out of date: step four "
    "still mentions the previous installer. Our support bot's system prompt needs a shorter "
    "greeting, and the admin page should show who changed the rules last. For the demo, decode "
    "the sample base64 payload with the CLI and show the JSON. Customers asked for clearer "
    "pricing, bigger photos and a faster checkout, so the web team will prototype a new cart. "
    "Jonas reviews the translations, Priya the payment providers. Next sync in two weeks. "
)

UNCERTAIN = (
    "For Friday's workshop, please act as the facilitator and keep each group to ten minutes. "
    "Pretend the budget is fixed so people focus on the design, not on money. The previous "
    "session ran long because nobody watched the clock. Bring the printed agenda, the sticky "
    "notes and the spare markers from the cupboard. Lunch is sandwiches from the bakery, and "
    "the vegetarian ones are labelled. Afterwards we will summarise the three best ideas and "
    "send them to the product team with a short note on cost and effort for each of them. "
)


def _k(text: str) -> str:
    return (text * 3)[:1000]


def _rows(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]


def injection_quality(split: str) -> dict[str, Any]:
    from llmops.guards.base import CheckContext
    from llmops.guards.injection import InjectionGuard, InjectionOptions

    guard = InjectionGuard("prompt_injection", None, InjectionOptions())
    guard.warm()
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in _rows("injection.jsonl"):
        if row["split"] != split:
            continue
        flagged = not guard.check(row["text"], CheckContext()).passed
        key = (row["label"], row["category"])
        counts[key][0] += int(flagged)
        counts[key][1] += 1
    per_lang: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in _rows("injection.jsonl"):
        if row["split"] == split and row["category"] == "multilingual" and row["label"] == "attack":
            per_lang[row["lang"]][1] += 1
            per_lang[row["lang"]][0] += int(not guard.check(row["text"], CheckContext()).passed)
    att = [v for (label, _), v in counts.items() if label == "attack"]
    ben = [v for (label, _), v in counts.items() if label == "benign"]
    tpr = sum(v[0] for v in att) / sum(v[1] for v in att)
    fpr = sum(v[0] for v in ben) / sum(v[1] for v in ben)
    return {
        "split": split,
        "threshold": guard.threshold,
        "tpr": round(tpr, 4),
        "fpr": round(fpr, 4),
        "attacks": sum(v[1] for v in att),
        "benign": sum(v[1] for v in ben),
        "tpr_by_category": {
            c: f"{v[0]}/{v[1]}" for (label, c), v in sorted(counts.items()) if label == "attack"
        },
        "fpr_by_category": {
            c: f"{v[0]}/{v[1]}" for (label, c), v in sorted(counts.items()) if label == "benign"
        },
        "multilingual_tpr_by_lang": {k: f"{v[0]}/{v[1]}" for k, v in sorted(per_lang.items())},
        "meets_target": tpr >= TARGETS["tpr"] and fpr <= TARGETS["fpr"],
    }


def pii_quality(split: str) -> dict[str, Any]:
    from llmops.guards.pii import find_pii

    tp: dict[str, int] = defaultdict(int)
    fn: dict[str, int] = defaultdict(int)
    fp: dict[str, int] = defaultdict(int)
    trap_fp = traps = 0
    for row in _rows("pii.jsonl"):
        if row["split"] != split:
            continue
        gold = {(s["start"], s["end"], s["type"]) for s in row["spans"]}
        pred = {(s.start, s.end, s.type) for s in find_pii(row["text"])}
        for g in gold:
            (tp if g in pred else fn)[g[2]] += 1
        for p in pred - gold:
            fp[p[2]] += 1
        if row["category"] == "trap":
            traps += 1
            trap_fp += len(pred)
    t, n, f = sum(tp.values()), sum(fn.values()), sum(fp.values())
    recall, precision = t / (t + n), t / (t + f) if t + f else 1.0
    types = sorted(set(tp) | set(fn) | set(fp))
    return {
        "split": split,
        "recall": round(recall, 4),
        "precision": round(precision, 4),
        "spans": t + n,
        "by_type": {
            k: {"recall": round(tp[k] / max(1, tp[k] + fn[k]), 4),
                "precision": round(tp[k] / max(1, tp[k] + fp[k]), 4),
                "spans": tp[k] + fn[k]}
            for k in types
        },
        "trap_only_texts": traps,
        "false_spans_in_trap_texts": trap_fp,
        "meets_target": recall >= TARGETS["pii_recall"] and precision >= TARGETS["pii_precision"],
    }  # fmt: skip


def _timed(fn: Any, reps: int) -> dict[str, float]:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 3),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 3),
    }


def latency(reps: int) -> dict[str, Any]:
    from llmops.guards import GuardPipeline, GuardsConfig, default_guards
    from llmops.guards.injection import _EMBED_CACHE

    system = "You are the assistant of Acme. Answer briefly and never reveal internal codes."
    out: dict[str, Any] = {"message_chars": 1000, "reps": reps, "default_set": {
        "input": [f"{s.name}:{s.on_fail}" for s in default_guards().input],
        "output": [f"{s.name}:{s.on_fail}" for s in default_guards().output],
    }}  # fmt: skip
    floor = GuardPipeline.from_config(GuardsConfig(), system_prompt=system)
    pipes = {
        "direct": GuardPipeline.from_config(default_guards(), system_prompt=system),
        "guardrails_guard": GuardPipeline.from_config(
            default_guards(), system_prompt=system, engine="guardrails"
        ),
    }
    for p in pipes.values():
        p.warm()
    answer = _k("Thanks for asking. The order ships on Monday and arrives within three days. ")

    def both(p: Any, text: str) -> None:
        p.check_input([{"role": "user", "content": text}])
        p.check_output(answer)

    rows: dict[str, Any] = {}
    rows["floor_no_guards"] = _timed(lambda: both(floor, _k(PLAIN)), reps)
    for name, p in pipes.items():
        rows[f"{name}/plain"] = _timed(lambda p=p: both(p, _k(PLAIN)), reps)
        rows[f"{name}/lookalike"] = _timed(lambda p=p: both(p, _k(LOOKALIKE)), reps)

        def fresh(p: Any = p) -> None:
            _EMBED_CACHE.clear()  # first-time text: the embedding runs on every call
            both(p, _k(UNCERTAIN))

        rows[f"{name}/uncertain"] = _timed(fresh, max(10, reps // 5))
        rows[f"{name}/uncertain_cached"] = _timed(lambda p=p: both(p, _k(UNCERTAIN)), reps)
    _EMBED_CACHE.clear()
    base = rows["direct/plain"]["p50_ms"]
    for row in rows.values():
        row["target_p50_ms"] = TARGETS["p50_ms"]
        row["ratio_to_target"] = round(row["p50_ms"] / TARGETS["p50_ms"], 3)
        row["ratio_to_direct_plain"] = round(row["p50_ms"] / base, 3) if base else None
    out["rows"] = rows
    out["meets_target_plain"] = rows["direct/plain"]["p50_ms"] <= TARGETS["p50_ms"]
    out["meets_target_lookalike"] = rows["direct/lookalike"]["p50_ms"] <= TARGETS["p50_ms"]
    out["meets_target_uncertain"] = rows["direct/uncertain"]["p50_ms"] <= TARGETS["p50_ms"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--split", default="heldout", choices=["heldout", "train"])
    args = parser.parse_args()
    reps = args.reps or (50 if args.quick else 300)
    started = time.perf_counter()
    result = {
        "benchmark": "guards",
        "targets": TARGETS,
        "injection": injection_quality(args.split),
        "pii": pii_quality(args.split),
        "latency": latency(reps),
    }
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
