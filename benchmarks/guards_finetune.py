"""Round 5 of issue 15, fine-tuned ceiling (``ft_top2``): MiniLM's top two layers + a linear head.

Per leave-one-source-out fold (``guards_ceiling_loso.folds_of``): the lower four layers are frozen
and their outputs cached once per text (max_seq 128), a fresh copy of layers 5-6 + mean pooling
+ a linear head is fine-tuned on the fold's training rows (AdamW, lr 3e-5 layers / 1e-3 head,
batch 32, ``--epochs``, seed 0, the rounds' sample weights in the loss), and the held-out rows
are scored. Threshold: the fold's own (in-sample) training benign scores at FPR <= 0.01 (the
grouped out-of-fold rule would cost five more fine-tunes per fold; an in-sample threshold is
lower, so held-out FPR is if anything overstated). Each fold's scores go to ``--cache``;
``report`` pools whatever folds ran. Prints ONE JSON document.

    python benchmarks/guards_finetune.py run --folds deepteam,spikee,agentdojo,eval \\
        --pyrit-wheel W --psfuzz-wheel W2
    python benchmarks/guards_finetune.py report --pyrit-wheel W --psfuzz-wheel W2
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from typing import Any

import numpy as np

MAX_SEQ, FROZEN, BATCH = 128, 4, 32


def _model() -> Any:
    from transformers import AutoModel

    from llmops.embeddings import resolve_model_path

    path = resolve_model_path("all-MiniLM-L6-v2")
    return AutoModel.from_pretrained(str(path), attn_implementation="sdpa").eval()


def _ext_mask(mask: Any) -> Any:
    import torch

    return (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min


def lower_outputs(args: argparse.Namespace, recs: list[Any], model: Any) -> list[Any]:
    """Layer-4 outputs of every text (fp16, one (tokens, 384) array each), cached on disk."""
    import torch
    from guards_ceiling import _digest, padded_batches
    from tokenizers import Tokenizer

    from llmops.embeddings import resolve_model_path

    cache = args.cache / f"layer{FROZEN}-{_digest(recs)}.pt"
    if cache.is_file():
        return list(torch.load(cache))
    tok = Tokenizer.from_file(str(resolve_model_path("all-MiniLM-L6-v2") / "tokenizer.json"))
    tok.enable_truncation(max_length=MAX_SEQ)
    tok.no_padding()
    ids = [e.ids for e in tok.encode_batch([r.text for r in recs])]
    out: list[Any] = [None] * len(ids)
    with torch.no_grad():
        for rows, xn, mn in padded_batches(ids, 64):
            x, m = torch.from_numpy(xn), torch.from_numpy(mn)
            h = model.embeddings(input_ids=x, token_type_ids=torch.zeros_like(x))
            for layer in model.encoder.layer[:FROZEN]:
                h = layer(h, attention_mask=_ext_mask(m))
            for r, i in enumerate(rows):
                out[i] = h[r, : len(ids[i])].to(torch.float16).clone()
    torch.save(out, cache)
    return out


def _batch(h4: list[Any], rows: list[int]) -> tuple[Any, Any]:
    import torch

    width = max(h4[i].shape[0] for i in rows)
    x = torch.zeros((len(rows), width, h4[rows[0]].shape[1]))
    m = torch.zeros((len(rows), width))
    for r, i in enumerate(rows):
        x[r, : h4[i].shape[0]], m[r, : h4[i].shape[0]] = h4[i].float(), 1.0
    return x, m


def _forward(layers: Any, head: Any, x: Any, m: Any) -> Any:
    h = x
    for layer in layers:
        h = layer(h, attention_mask=_ext_mask(m))
    pooled = (h * m[:, :, None]).sum(1) / m.sum(1, keepdim=True)
    return head(pooled)[:, 0]


def _scores(layers: Any, head: Any, h4: list[Any], rows: list[int]) -> Any:
    import torch

    out = np.zeros(len(rows))
    order = sorted(range(len(rows)), key=lambda k: h4[rows[k]].shape[0])
    with torch.no_grad():
        for start in range(0, len(order), 64):
            ks = order[start : start + 64]
            x, m = _batch(h4, [rows[k] for k in ks])
            out[ks] = torch.sigmoid(_forward(layers, head, x, m)).numpy()
    return out


def run_fold(
    model: Any, h4: list[Any], ds: Any, train: list[int], test: list[int], epochs: int
) -> dict[str, Any]:
    import torch

    from llmops.guards.train import _threshold, _weights

    torch.manual_seed(0)
    layers = copy.deepcopy(model.encoder.layer[FROZEN:]).train()
    head = torch.nn.Linear(model.config.hidden_size, 1)
    opt = torch.optim.AdamW([{"params": layers.parameters(), "lr": 3e-5},
                             {"params": head.parameters(), "lr": 1e-3}])  # fmt: skip
    sw = torch.tensor(_weights(ds, train), dtype=torch.float32)
    y = torch.tensor(ds.labels[train], dtype=torch.float32)
    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(train), generator=gen).tolist()
        for start in range(0, len(perm), BATCH):
            ks = perm[start : start + BATCH]
            x, m = _batch(h4, [train[k] for k in ks])
            logit = _forward(layers, head, x, m)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logit, y[ks], weight=sw[ks], reduction="sum") / sw[ks].sum()  # fmt: skip
            opt.zero_grad()
            loss.backward()
            opt.step()
    train_s = time.perf_counter() - t0
    layers.eval()
    benign = [i for i in train if ds.labels[i] == 0]
    thr = _threshold(_scores(layers, head, h4, benign), 1.0)
    return {"threshold": thr, "test": test, "scores": _scores(layers, head, h4, test).tolist(),
            "train_seconds": round(train_s, 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    import torch
    from guards_ceiling import emit, parser_for, records
    from guards_ceiling_loso import ds_like, folds_of, oracle, summary

    parser = parser_for(__doc__, ("run", "report"))
    parser.add_argument("--folds", default="deepteam,spikee,agentdojo,eval")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load0 = os.getloadavg()
    recs = records(args)
    ds = ds_like(recs)
    folds = {
        ("eval" if n.startswith("(") else n): (tr, te)
        for n, tr, te in folds_of(ds.sources.tolist())
    }
    out: dict[str, Any] = {}
    if args.step == "run":
        model = _model()
        t0 = time.perf_counter()
        h4 = lower_outputs(args, recs, model)
        out["lower_layers_seconds"] = round(time.perf_counter() - t0, 1)
        for name in args.folds.split(","):
            res = run_fold(model, h4, ds, *folds[name], args.epochs)
            (args.cache / f"ft-{name}.json").write_text(json.dumps({**res, "epochs": args.epochs}))
            out[name] = {"threshold": res["threshold"], "train_seconds": res["train_seconds"]}
            print(json.dumps({name: out[name]}), file=sys.stderr, flush=True)
    else:
        from llmops.guards.evaluation import _report

        flags, scores, done, thresholds = [False] * len(recs), [0.0] * len(recs), [], {}
        for name in folds:
            f = args.cache / f"ft-{name}.json"
            if not f.is_file():
                continue
            res = json.loads(f.read_text())
            done += res["test"]
            thresholds[name] = res["threshold"]
            for i, s in zip(res["test"], res["scores"], strict=True):
                scores[i], flags[i] = s, s >= res["threshold"]
        sub = ds_like([recs[i] for i in done])
        rep = summary(_report(sub, [flags[i] for i in done], thresholds, [scores[i] for i in done]))
        out = {"folds": sorted(thresholds), "rows": len(done), **rep,
               "oracle": oracle(sub, [scores[i] for i in done])}  # fmt: skip
    return emit(out, load0)


if __name__ == "__main__":
    raise SystemExit(main())
