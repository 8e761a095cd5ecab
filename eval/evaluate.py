#!/usr/bin/python3
"""Print the task metric of a checkpoint (base, fine-tune, or one rebuilt by deltacodec).

usage: /usr/bin/python3 eval/evaluate.py KIND CHECKPOINT [--task ft|base] [--json]

KIND        vit | llama | bert | tiny (the example pair in examples/) | smoke
CHECKPOINT  a .safetensors file or a model directory (single file or shards);
            the architecture is inferred from tensor names and shapes.
--task      ft (default): the fine-tune's task; base: the base model's pre-training task.

Metrics (full test sets):
  vit, tiny, smoke  accuracy on all 10,000 Fashion-MNIST test images
                    (task ft: rotated 90 deg + inverted; task base: upright)
  llama             bits per byte on 64 KiB of held-out Python (task base: held-out license prose)
  bert              accuracy on 2,000 held-out 64-byte snippets, 5 classes (prose/python/c/perl/cmake)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
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


@torch.no_grad()
def vit_accuracy(model, task="rot", limit=None, batch=500):
    x, y = data.fashion_mnist("test", task)
    if limit:
        x, y = x[:limit], y[:limit]
    correct = 0
    for i in range(0, len(x), batch):
        out = model(torch.from_numpy(x[i:i + batch]))
        correct += int((out.argmax(-1).numpy() == y[i:i + batch]).sum())
    return correct / len(x), len(x)


@torch.no_grad()
def llama_bpb(model, text: bytes, ctx=256, batch=32):
    """Bits per byte: mean next-byte cross-entropy over non-overlapping windows of
    ctx+1 bytes (each window predicts ctx bytes from its own prefix)."""
    tok = data.as_tokens(text)
    n = (len(tok) - 1) // ctx
    wins = np.stack([tok[i * ctx:i * ctx + ctx + 1] for i in range(n)])
    total, count = 0.0, 0
    for i in range(0, n, batch):
        w = torch.from_numpy(wins[i:i + batch])
        logits = model(w[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1),
                               reduction="sum")
        total += float(loss)
        count += w[:, 1:].numel()
    return total / count / math.log(2), count


@torch.no_grad()
def bert_accuracy(model, ids=None, labels=None, batch=250):
    if ids is None:
        ids, labels = data.bert_test_set()
    correct = 0
    for i in range(0, len(ids), batch):
        x = torch.from_numpy(ids[i:i + batch])
        out = model(x, x != data.PAD)
        correct += int((out.argmax(-1).numpy() == labels[i:i + batch]).sum())
    return correct / len(ids), len(ids)


def evaluate(kind: str, checkpoint, task: str = "ft"):
    """Returns dict(metric, value, n, higher_is_better, seconds)."""
    t0 = time.time()
    torch.set_num_threads(int(os.environ.get("DELTACODEC_EVAL_THREADS", "2")))
    arch = ARCH_OF[kind]
    model = load_model(kind, checkpoint)
    if arch == "vit":
        value, n = vit_accuracy(model, "rot" if task == "ft" else "upright")
    elif arch == "llama":
        text = data.lm_eval_text() if task == "ft" else data.corpus("prose", "test")[:65536]
        value, n = llama_bpb(model, text)
    else:
        if task != "ft":
            raise ValueError("bert has no base task metric (its base is an MLM without a head)")
        value, n = bert_accuracy(model)
    name, higher = METRIC[arch]
    return {"kind": kind, "task": task, "metric": name, "value": value, "n": n,
            "higher_is_better": higher, "seconds": round(time.time() - t0, 2)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("kind", choices=sorted(ARCH_OF))
    ap.add_argument("checkpoint")
    ap.add_argument("--task", choices=["ft", "base"], default="ft")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    r = evaluate(a.kind, a.checkpoint, a.task)
    r["checkpoint"] = a.checkpoint
    if a.json:
        print(json.dumps(r))
    else:
        print(f"{r['metric']} {r['value']:.4f}  (n={r['n']}, task={r['task']}, {r['seconds']}s)")


if __name__ == "__main__":
    main()
