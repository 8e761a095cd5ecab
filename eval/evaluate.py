#!/usr/bin/python3
"""Print the task metric of a checkpoint (base, fine-tune, or one rebuilt by deltacodec).

usage: /usr/bin/python3 eval/evaluate.py KIND CHECKPOINT [--task ft|base] [--json]
                                        [--against OTHER_CHECKPOINT]

KIND        vit | llama | bert | tiny (the example pair in examples/) | smoke
CHECKPOINT  a .safetensors file or a model directory (single file or shards);
            the architecture is inferred from tensor names and shapes.
--task      ft (default): the fine-tune's task; base: the base model's pre-training task.
--against   also evaluate OTHER_CHECKPOINT on the same examples and report the paired
            bootstrap difference (CHECKPOINT minus OTHER) with its 95% interval.

Every metric comes with a 95% bootstrap interval over the test examples (percentile
interval, 1,000 resamples, fixed seed, so it is deterministic). The unit resampled is one
test image (vit), one snippet (bert), or one 256-byte window (llama: its bits and its byte
count are resampled together, the metric is total bits / total bytes). A paired difference
is "significant" when its interval excludes 0.

Metrics (full test sets):
  vit, tiny, smoke  accuracy on all 10,000 Fashion-MNIST test images
                    (task ft: rotated 90 deg + inverted; task base: upright)
  llama             bits per byte on 128 KiB of held-out Python (task base: 128 KiB of held-out
                    C headers, Perl, CMake and licence prose, 32 KiB each)
  bert              accuracy on 5,000 held-out 64-byte snippets, 5 classes (prose/python/c/perl/cmake)
"""
from __future__ import annotations

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.abspath(__file__)))
import torch_env  # noqa: E402,F401  (before numpy/torch: OpenMP and OpenBLAS settings)

import argparse
import json
import math
import os
import sys
import time

import numpy as np

import torch  # noqa: E402
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import models  # noqa: E402
import st  # noqa: E402

ARCH_OF = {"vit": "vit", "tiny": "vit", "smoke": "vit", "llama": "llama", "bert": "bert"}
METRIC = {"vit": ("accuracy", True), "llama": ("bits_per_byte", False),
          "bert": ("accuracy", True)}


def load_model(kind: str, checkpoint):
    arch = ARCH_OF[kind]
    tensors = st.load(checkpoint) if isinstance(checkpoint, str) else checkpoint
    cfg = models.infer_config(arch, tensors)
    m = models.build(arch, cfg)
    models.load_state(m, tensors)
    m.eval()
    return m


# ------------------------------------------------------------ per-example outputs
# Each metric is sum(num) / sum(den) over test units: num = 1 if correct else 0 and
# den = 1 for accuracy; num = bits of a window and den = its byte count for bits per byte.
@torch.no_grad()
def vit_correct(model, task="rot", limit=None, batch=500):
    x, y = data.fashion_mnist("test", task)
    if limit:
        x, y = x[:limit], y[:limit]
    out = [model(torch.from_numpy(x[i:i + batch])).argmax(-1).numpy() == y[i:i + batch]
           for i in range(0, len(x), batch)]
    return np.concatenate(out).astype(np.float64)


def vit_accuracy(model, task="rot", limit=None, batch=500):
    c = vit_correct(model, task, limit, batch)
    return float(c.mean()), len(c)


@torch.no_grad()
def llama_window_bits(model, text: bytes, ctx=256, batch=32):
    """Bits of each non-overlapping window of ctx+1 bytes (each window predicts ctx bytes
    from its own prefix): returns (bits per window, bytes per window)."""
    tok = data.as_tokens(text)
    n = (len(tok) - 1) // ctx
    wins = np.stack([tok[i * ctx:i * ctx + ctx + 1] for i in range(n)])
    bits = []
    for i in range(0, n, batch):
        w = torch.from_numpy(wins[i:i + batch])
        logits = model(w[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1),
                               reduction="none").reshape(w.shape[0], -1)
        bits.append(loss.double().sum(1).numpy() / math.log(2))
    return np.concatenate(bits), np.full(n, float(ctx))


def llama_bpb(model, text: bytes, ctx=256, batch=32):
    """Bits per byte: total bits of the windows over their total bytes."""
    bits, count = llama_window_bits(model, text, ctx, batch)
    return float(bits.sum() / count.sum()), int(count.sum())


@torch.no_grad()
def bert_correct(model, ids=None, labels=None, batch=250):
    if ids is None:
        ids, labels = data.bert_test_set()
    out = []
    for i in range(0, len(ids), batch):
        x = torch.from_numpy(ids[i:i + batch])
        out.append(model(x, x != data.PAD).argmax(-1).numpy() == labels[i:i + batch])
    return np.concatenate(out).astype(np.float64)


def bert_accuracy(model, ids=None, labels=None, batch=250):
    c = bert_correct(model, ids, labels, batch)
    return float(c.mean()), len(c)


# -------------------------------------------------------------------- bootstrap
BOOT_RESAMPLES = 1000
BOOT_SEED = 20261127


def _resampled_ratios(units, idx):
    num, den = units
    return num[idx].sum(-1) / den[idx].sum(-1)


def _boot_indices(n, resamples, seed, chunk=100):
    """The same resample indices for any two calls with equal n, resamples, seed."""
    rng = np.random.default_rng(seed)
    for i in range(0, resamples, chunk):
        yield rng.integers(0, n, size=(min(chunk, resamples - i), n))


def bootstrap_ci(units, resamples=BOOT_RESAMPLES, seed=BOOT_SEED, level=0.95):
    """95% percentile interval of sum(num)/sum(den) when the units are resampled
    with replacement. units = (num, den), arrays of equal length."""
    num, den = (np.asarray(u, dtype=np.float64) for u in units)
    stats = np.concatenate([_resampled_ratios((num, den), idx)
                            for idx in _boot_indices(len(num), resamples, seed)])
    a = (1 - level) / 2
    return float(np.quantile(stats, a)), float(np.quantile(stats, 1 - a))


def paired_bootstrap(units_a, units_b, resamples=BOOT_RESAMPLES, seed=BOOT_SEED, level=0.95):
    """Metric of A minus metric of B on the same test units, with the 95% interval of
    that difference when the units (their A and B outputs together) are resampled.
    significant = the interval excludes 0."""
    a = tuple(np.asarray(u, dtype=np.float64) for u in units_a)
    b = tuple(np.asarray(u, dtype=np.float64) for u in units_b)
    if len(a[0]) != len(b[0]) or not np.array_equal(a[1], b[1]):
        raise ValueError("paired bootstrap needs outputs on the same test units")
    diff = float(a[0].sum() / a[1].sum() - b[0].sum() / b[1].sum())
    stats = np.concatenate([_resampled_ratios(a, idx) - _resampled_ratios(b, idx)
                            for idx in _boot_indices(len(a[0]), resamples, seed)])
    q = (1 - level) / 2
    lo, hi = float(np.quantile(stats, q)), float(np.quantile(stats, 1 - q))
    return {"diff": diff, "ci95": [lo, hi], "significant": bool(lo > 0 or hi < 0)}


def evaluate(kind: str, checkpoint, task: str = "ft", units: bool = False):
    """Returns dict(metric, value, ci95, n, n_units, higher_is_better, seconds) and, with
    units=True, "units": (num, den), the per-example outputs the bootstrap resamples."""
    t0 = time.time()
    torch.set_num_threads(int(os.environ.get("DELTACODEC_EVAL_THREADS", "2")))
    arch = ARCH_OF[kind]
    model = load_model(kind, checkpoint)
    if arch == "vit":
        c = vit_correct(model, "rot" if task == "ft" else "upright")
        u = (c, np.ones_like(c))
    elif arch == "llama":
        text = data.lm_eval_text() if task == "ft" else data.lm_base_eval_text()
        u = llama_window_bits(model, text)
    else:
        if task != "ft":
            raise ValueError("bert has no base task metric (its base is an MLM without a head)")
        c = bert_correct(model)
        u = (c, np.ones_like(c))
    name, higher = METRIC[arch]
    r = {"kind": kind, "task": task, "metric": name, "value": float(u[0].sum() / u[1].sum()),
         "ci95": list(bootstrap_ci(u)), "n": int(u[1].sum()), "n_units": len(u[0]),
         "higher_is_better": higher, "seconds": round(time.time() - t0, 2)}
    if units:
        r["units"] = u
    return r


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("kind", choices=sorted(ARCH_OF))
    ap.add_argument("checkpoint")
    ap.add_argument("--task", choices=["ft", "base"], default="ft")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--against", metavar="OTHER_CHECKPOINT")
    a = ap.parse_args(argv)
    r = evaluate(a.kind, a.checkpoint, a.task, units=bool(a.against))
    r["checkpoint"] = a.checkpoint
    if a.against:
        o = evaluate(a.kind, a.against, a.task, units=True)
        r["against"] = {"checkpoint": a.against, "value": o["value"], "ci95": o["ci95"],
                        **paired_bootstrap(r.pop("units"), o["units"])}
    if a.json:
        print(json.dumps(r))
    else:
        lo, hi = r["ci95"]
        print(f"{r['metric']} {r['value']:.4f} [95% CI {lo:.4f}, {hi:.4f}]  "
              f"(n={r['n']}, task={r['task']}, {r['seconds']}s)")
        if a.against:
            d = r["against"]
            print(f"minus {a.against}: {d['diff']:+.4f} [95% CI {d['ci95'][0]:+.4f}, "
                  f"{d['ci95'][1]:+.4f}]{' significant' if d['significant'] else ''}")


if __name__ == "__main__":
    main()
