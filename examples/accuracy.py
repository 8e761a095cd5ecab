#!/usr/bin/python3
"""Accuracy of the example model (examples/: a tiny ViT) with NumPy alone, no PyTorch.

usage: /usr/bin/python3 examples/accuracy.py CHECKPOINT [CHECKPOINT ...]

For each checkpoint (a .safetensors file: the base, the fine-tune, or one rebuilt by deltacodec)
prints its accuracy on all 10,000 Fashion-MNIST test images of the fine-tune's task (rotated 90
degrees and colour-inverted; package dataset-fashion-mnist). It runs the same forward pass as
eval/models.py's ViTForImageClassification (which eval/evaluate.py runs with PyTorch); `make demo`
uses this one so that it needs NumPy and the data set only (eval/smoke_test.py checks that both
give the same accuracy).
"""
from __future__ import annotations

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "eval"))
import data  # noqa: E402  (NumPy only)
import st  # noqa: E402  (NumPy only)

HEAD_DIM = 64  # eval/models.py: heads = hidden / 64
LN_EPS = 1e-12


def _erf(x):
    """erf to within 1.5e-7 (Abramowitz & Stegun 7.1.26), for the exact (erf) GELU."""
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return s * (1.0 - poly * np.exp(-a * a))


def _gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _layernorm(x, w, b):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + LN_EPS) * w + b


def _linear(x, t, name):
    return x @ t[name + ".weight"].T + t[name + ".bias"]


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def vit_logits(t, x):
    """t: the checkpoint's tensors (float32, Hugging Face ViT names); x: [B, C, H, W] images."""
    w = t["vit.embeddings.patch_embeddings.projection.weight"]  # [hidden, C, p, p]
    hidden, c, p, _ = w.shape
    b, _, h, wd = x.shape
    # The patch projection (a convolution with stride = kernel = p) as one matrix product.
    patches = x.reshape(b, c, h // p, p, wd // p, p).transpose(0, 2, 4, 1, 3, 5).reshape(b, -1, c * p * p)
    z = patches @ w.reshape(hidden, -1).T + t["vit.embeddings.patch_embeddings.projection.bias"]
    cls = np.broadcast_to(t["vit.embeddings.cls_token"], (b, 1, hidden))
    z = np.concatenate([cls, z], 1) + t["vit.embeddings.position_embeddings"]
    heads = hidden // HEAD_DIM
    n = z.shape[1]
    layer = 0
    while f"vit.encoder.layer.{layer}.attention.attention.query.weight" in t:
        pre = f"vit.encoder.layer.{layer}."
        y = _layernorm(z, t[pre + "layernorm_before.weight"], t[pre + "layernorm_before.bias"])
        q, k, v = (_linear(y, t, pre + "attention.attention." + m).reshape(b, n, heads, -1).transpose(0, 2, 1, 3)
                   for m in ("query", "key", "value"))
        att = _softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(q.shape[-1]))
        y = (att @ v).transpose(0, 2, 1, 3).reshape(b, n, hidden)
        z = z + _linear(y, t, pre + "attention.output.dense")
        y = _layernorm(z, t[pre + "layernorm_after.weight"], t[pre + "layernorm_after.bias"])
        z = z + _linear(_gelu(_linear(y, t, pre + "intermediate.dense")), t, pre + "output.dense")
        layer += 1
    z = _layernorm(z, t["vit.layernorm.weight"], t["vit.layernorm.bias"])
    return _linear(z[:, 0], t, "classifier")


def accuracy(checkpoint, batch=1000):
    """Accuracy on the 10,000 test images of the fine-tune's task ("rot" in eval/data.py)."""
    t = {k: np.asarray(v, dtype=np.float32) for k, v in st.load(checkpoint).items()}
    x, y = data.fashion_mnist("test", "rot")
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((vit_logits(t, x[i:i + batch]).argmax(-1) == y[i:i + batch]).sum())
    return correct / len(x)


def main(argv):
    if not argv:
        sys.exit(__doc__.split("\n\n")[1])
    for path in argv:
        print(f"{100 * accuracy(path):.2f}%  {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
