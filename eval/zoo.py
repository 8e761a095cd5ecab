#!/usr/bin/python3
"""Train the model zoo: real (small) pre-trained bases and fine-tunes of them,
saved as safetensors with Hugging Face names and layouts. Deterministic (fixed
seeds, 2 threads). Pairs already cached under zoo/ are skipped.

usage: /usr/bin/python3 eval/zoo.py [--only vit,llama,bert] [--force] [--out zoo]
       /usr/bin/python3 eval/zoo.py --example     # (re)create examples/{base,finetuned}.safetensors

Pairs (see docs/EVAL.md). Training runs under bfloat16 autocast (float32 weights) and stops
when the held-out validation metric stops improving (fit()); the test sets are never seen.
  vit         ViT, hidden 256, 4 layers, MLP 512, patch 7; base: Fashion-MNIST (upright,
              zoo/vit-base/, shared by the three ViT pairs); full fine-tune on Fashion-MNIST
              rotated 90 deg + inverted. fp32 single files. Validation split (5,000 training
              images) for early stopping.
  vit-gentle  same base; fine-tune at 1/20 of the learning rate on 10,000 images.
  vit-lora    same base; LoRA rank 16 on q/k/v/o and both MLP projections (+ classifier),
              merged into the weights: the base's names and shapes.
  llama  Llama, hidden 256, 4 layers, MLP 688, byte vocab; base: C headers, Perl, CMake and
         licence prose (14 MB); fine-tune: Python stdlib source. bf16 model directories, 2 shards.
  bert   BERT, hidden 256, 4 layers, MLP 512, byte vocab; base: masked-LM on mixed
         Debian text; fine-tune: 5-way source classification of 64-byte snippets. fp32.
  vit-large  ViT, hidden 512, 8 layers, MLP 1024 (zoo/vit-large-base/): the larger pair, on a
         step budget (20,000 upright images, then 10,000 rotated+inverted ones). fp32.
  example (examples/) tiny ViT, hidden 128, 2 layers, MLP 512, fp16, same tasks as vit.
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
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import data  # noqa: E402
import delta_stats  # noqa: E402
import evaluate as ev  # noqa: E402
import models  # noqa: E402
import st  # noqa: E402


def seed_all(s):
    torch.manual_seed(s)
    np.random.seed(s)


def _opt(model, lr, steps, warmup=None, wd=0.01, params=None):
    opt = torch.optim.AdamW(params if params is not None else model.parameters(), lr=lr,
                            weight_decay=wd)
    warmup = warmup if warmup is not None else max(1, steps // 20)

    def f(step):
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, f)


def _step(model, opt, sched, loss, params=None):
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params if params is not None else model.parameters(), 1.0)
    opt.step()
    sched.step()


def _log(msg):
    print(f"[zoo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def round_to(model, dtype):
    """Round weights to the storage dtype, as a fine-tune loaded from the saved base would be."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).float())


# ---------------------------------------------------------------------- ViT
class Clock:
    """Wall time, optimizer steps and the machine's load average while training."""

    def __init__(self):
        self.t0, self.steps, self.loads = time.time(), 0, [os.getloadavg()[0]]

    def sample(self):
        self.loads.append(os.getloadavg()[0])

    def info(self):
        return {"seconds": round(time.time() - self.t0, 1), "steps": self.steps,
                "load_avg_mean": round(float(np.mean(self.loads)), 2),
                "load_avg_max": round(float(np.max(self.loads)), 2)}


# Training runs its forward passes under bfloat16 autocast where the CPU has native bf16
# (weights, gradients and the optimizer stay float32): on this machine's AMX/AVX-512 BF16 cores
# a ViT step is about 2.4x and a BERT step 3x faster than in float32. Evaluation is always
# float32. The training record says which was used (amp_bf16).
AMP_DTYPE = torch.bfloat16


def _cpu_has_bf16():
    """Native bf16 matrix instructions (AVX-512 BF16 or AMX); elsewhere autocast would
    emulate bf16 and run slower than float32, so training stays in float32 there."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((ln.split(":", 1)[1].split() for ln in f if ln.startswith("flags")), [])
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags))


AMP_ENABLED = _cpu_has_bf16()


def fit(model, params, batch_loss, validate, *, lr, max_steps, eval_every, patience,
        higher_is_better, tag, warmup=None):
    """AdamW, linear warm-up then cosine decay over max_steps. Every eval_every steps (and at
    the last step) the held-out validation metric is measured; the best weights are kept and
    training stops once the metric has not improved for `patience` evaluations in a row
    ("converged": the validation metric stopped improving). batch_loss(step) returns the loss
    of one batch; validate() the validation metric. Returns the training record."""
    params = list(params)
    opt, sched = _opt(None, lr, max_steps, warmup=warmup, params=params)
    clock, curve = Clock(), []
    best, best_state, bad = None, None, 0
    model.train()
    for s in range(max_steps):
        with torch.autocast("cpu", dtype=AMP_DTYPE, enabled=AMP_ENABLED):
            loss = batch_loss(s)
        _step(None, opt, sched, loss, params)
        clock.steps += 1
        if s % 50 == 0:
            clock.sample()
            _log(f"{tag} step {s}/{max_steps} loss {float(loss):.3f} "
                 f"({time.time() - clock.t0:.0f}s, load {os.getloadavg()[0]:.1f})")
        if (s + 1) % eval_every == 0 or s + 1 == max_steps:
            model.eval()
            with torch.no_grad():
                v = float(validate())
            model.train()
            curve.append(round(v, 4))
            _log(f"{tag} step {s + 1}: validation {v:.4f}")
            if best is None or (v > best if higher_is_better else v < best):
                best, bad = v, 0
                best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
            else:
                bad += 1
                if bad >= patience:
                    break
    model.load_state_dict(best_state)
    model.eval()
    return dict(clock.info(), amp_bf16=AMP_ENABLED, lr=lr, max_steps=max_steps, eval_every=eval_every,
                patience=patience, val_curve=curve, val_best=round(best, 4),
                stopped_early=clock.steps < max_steps)


def _vit_val_accuracy(model, x, y, batch=500):
    c = 0
    for i in range(0, len(x), batch):
        c += int((model(torch.from_numpy(x[i:i + batch])).argmax(-1).numpy() == y[i:i + batch]).sum())
    return c / len(x)


def train_vit(model, task, *, lr, max_epochs, seed, images_per_epoch=None, patience=1,
              params=None, batch=128, tag=""):
    """Epochs over the task's training images minus a fixed validation split (5,000 images),
    validated after each epoch (fit() above). The test images are never seen."""
    x, y = data.fashion_mnist("train", task)
    tr, va = data.fashion_mnist_split()
    xv, yv = x[va], y[va]
    rng = np.random.default_rng(seed)
    per_epoch = (images_per_epoch or len(tr)) // batch
    order = []

    def batch_loss(s):
        if s % per_epoch == 0:
            order[:] = [rng.permutation(tr)]
        i = s % per_epoch
        idx = np.sort(order[0][i * batch:(i + 1) * batch])
        return F.cross_entropy(model(torch.from_numpy(x[idx])), torch.from_numpy(y[idx]))

    rec = fit(model, params if params is not None else model.parameters(), batch_loss,
              lambda: _vit_val_accuracy(model, xv, yv), lr=lr, max_steps=per_epoch * max_epochs,
              eval_every=per_epoch, patience=patience, higher_is_better=True, tag=f"vit {tag}")
    return dict(rec, batch=batch, max_epochs=max_epochs, epochs=len(rec["val_curve"]),
                images_per_epoch=per_epoch * batch, val_n=len(va))


class LoRALinear(torch.nn.Module):
    """y = base(x) + (x A^T B^T) * alpha/r, base frozen; B starts at zero."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base, self.r, self.scale = base, r, alpha / r
        self.A = torch.nn.Parameter(torch.randn(r, base.in_features) / math.sqrt(base.in_features))
        self.B = torch.nn.Parameter(torch.zeros(base.out_features, r))

    def forward(self, x):
        return self.base(x) + (x @ self.A.t() @ self.B.t()) * self.scale

    def merged(self):
        with torch.no_grad():
            self.base.weight += (self.B @ self.A) * self.scale
        return self.base


VIT_LORA_TARGETS = ("attention.attention.query", "attention.attention.key",
                    "attention.attention.value", "attention.output.dense",
                    "intermediate.dense", "output.dense")


def _swap(model, name, new):
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent), leaf, new)


def vit_lora(model, r, alpha, seed, **kw):
    """LoRA (rank r) on every attention and MLP projection, classifier trained in full,
    everything else frozen; merged back so the checkpoint has the base's names/shapes."""
    torch.manual_seed(seed)
    for p in model.parameters():
        p.requires_grad_(False)
    names = [n for n, m in model.named_modules()
             if isinstance(m, torch.nn.Linear) and n.endswith(VIT_LORA_TARGETS) and ".layer." in n]
    wrapped = {}
    for n in names:
        wrapped[n] = LoRALinear(model.get_submodule(n), r, alpha)
        _swap(model, n, wrapped[n])
    for p in model.classifier.parameters():
        p.requires_grad_(True)
    params = [p for p in model.parameters() if p.requires_grad]
    rec = train_vit(model, "rot", params=params, seed=seed, **kw)
    for n, w in wrapped.items():
        _swap(model, n, w.merged())
    for p in model.parameters():
        p.requires_grad_(True)
    rec.update(lora_rank=r, lora_alpha=alpha, lora_modules=len(names),
               trainable_params=int(sum(p.numel() for p in params)))
    return rec


# The ViT family. "vit" bases are hidden 256 (4 heads), 4 layers; "vit-large" is hidden 512
# (8 heads), 8 layers, so that its matrices (512x512, 1024x512) tile into 64-patches and have
# the spectra of a wider model. Epoch limits are upper bounds: training stops earlier when the
# validation accuracy stops improving (patience 1 epoch).
VIT_BASES = {
    "vit-base": dict(cfg=dict(hidden=256, layers=4, inter=512, patch=7), epochs=3, seed=10),
    "vit-large-base": dict(cfg=dict(hidden=512, layers=8, inter=1024, patch=7), epochs=1,
                           images=20000, seed=40),
}
VIT_FT_LR = 5e-4
VIT_FT_EPOCHS = 3
VIT_LORA_EPOCHS = 2
VIT_LARGE_FT_IMAGES = 10000


def vit_base(out, name="vit-base"):
    """An upright Fashion-MNIST base, shared by the fine-tunes that name it; cached in
    OUT/NAME/ (base.safetensors + train.json), trained when missing."""
    spec = VIT_BASES[name]
    d = os.path.join(out, name)
    p, rp = os.path.join(d, "base.safetensors"), os.path.join(d, "train.json")
    cfg = models.vit_config(**spec["cfg"])
    if os.path.exists(p) and os.path.exists(rp):
        return cfg, st.load(p), json.load(open(rp))
    _log(f"{name}: training")
    torch.set_num_threads(2)
    seed_all(spec["seed"])
    model = models.build("vit", cfg)
    rec = train_vit(model, "upright", lr=1e-3, max_epochs=spec["epochs"], seed=spec["seed"],
                    images_per_epoch=spec.get("images"), tag=name)
    base = models.to_numpy_state(model)
    os.makedirs(d, exist_ok=True)
    st.save_file(base, p, dtype="F32", meta={"format": "pt", "deltacodec_zoo": name})
    with open(rp, "w") as f:
        json.dump(rec, f, indent=2, sort_keys=True)
    return cfg, base, rec


def make_vit_finetune(variant, out):
    cfg, base, rec_b = vit_base(out, "vit-large-base" if variant == "large" else "vit-base")
    seed = VIT_BASES["vit-base"]["seed"]
    model = models.build("vit", cfg)
    models.load_state(model, base)
    seed_all(seed + 1)
    if variant == "full":
        rec = train_vit(model, "rot", lr=VIT_FT_LR, max_epochs=VIT_FT_EPOCHS, seed=seed + 1, tag="full")
    elif variant == "gentle":
        # 1/20 of the full fine-tune's learning rate, one short epoch (10,000 images).
        rec = train_vit(model, "rot", lr=VIT_FT_LR / 20, max_epochs=1, images_per_epoch=10000,
                        seed=seed + 2, tag="gentle")
    elif variant == "lora":
        rec = vit_lora(model, 16, 32, seed + 3, lr=2e-3, max_epochs=VIT_LORA_EPOCHS, tag="lora")
    elif variant == "large":
        seed = VIT_BASES["vit-large-base"]["seed"]
        seed_all(seed + 1)
        rec = train_vit(model, "rot", lr=VIT_FT_LR, max_epochs=1, images_per_epoch=VIT_LARGE_FT_IMAGES,
                        seed=seed + 1, tag="large")
    else:
        raise ValueError(variant)
    return cfg, base, models.to_numpy_state(model), {
        "train_base": rec_b, "train_finetune": rec, "train_seconds_base": rec_b["seconds"],
        "train_seconds_finetune": rec["seconds"]}


def make_vit_pair(cfg, base_images, ft_images, seed, dtype):
    """The small example pair (examples/): fixed image budgets, no validation split."""
    seed_all(seed)
    model = models.build("vit", cfg)
    t0 = time.time()
    train_vit_budget(model, "upright", base_images, 1e-3, seed)
    round_to(model, dtype)
    base = models.to_numpy_state(model)
    t1 = time.time()
    seed_all(seed + 1)
    train_vit_budget(model, "rot", ft_images, 5e-4, seed + 1)
    round_to(model, dtype)
    ft = models.to_numpy_state(model)
    t2 = time.time()
    return base, ft, {"train_seconds_base": round(t1 - t0, 1), "train_seconds_finetune": round(t2 - t1, 1)}


def train_vit_budget(model, task, images, lr, seed, batch=128):
    x, y = data.fashion_mnist("train", task)
    rng = np.random.default_rng(seed)
    n = int(images)
    steps = n // batch
    order = np.concatenate([rng.permutation(len(x)) for _ in range(n // len(x) + 1)])[:n]
    opt, sched = _opt(model, lr, steps)
    model.train()
    for s in range(steps):
        idx = order[s * batch:(s + 1) * batch]
        loss = F.cross_entropy(model(torch.from_numpy(x[idx])), torch.from_numpy(y[idx]))
        _step(model, opt, sched, loss)
        if s % 100 == 0:
            _log(f"vit {task} step {s}/{steps} loss {float(loss):.3f}")
    model.eval()


# -------------------------------------------------------------------- Llama
def train_lm(model, sources, *, lr, max_steps, eval_every, patience, seed, batch=16, ctx=256,
             tag=""):
    """Next-byte prediction on random ctx-byte windows; the batch's rows cycle through the
    sources (an equal mixture). Validated on the sources' validation parts (bits per byte)."""
    toks = [torch.from_numpy(data.as_tokens(data.corpus(src, "train"))) for src in sources]
    val = b"\n".join(data.corpus(src, "val")[:32768] for src in sources)
    rng = np.random.default_rng(seed)

    def batch_loss(s):
        rows = []
        for b in range(batch):
            t = toks[b % len(toks)]
            i = int(rng.integers(0, len(t) - ctx - 1))
            rows.append(t[i:i + ctx + 1])
        w = torch.stack(rows)
        logits = model(w[:, :-1])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), w[:, 1:].reshape(-1))

    def validate():
        bits, count = ev.llama_window_bits(model, val, ctx)
        return bits.sum() / count.sum()

    rec = fit(model, model.parameters(), batch_loss, validate, lr=lr, max_steps=max_steps,
              eval_every=eval_every, patience=patience, higher_is_better=False, tag=f"llama {tag}")
    return dict(rec, sources=list(sources), batch=batch, ctx=ctx)


def make_llama_pair(cfg, seed):
    """Base: a byte-level LM of Debian's C headers, Perl, CMake and licence prose (14 MB);
    fine-tune: Python (a language the base never saw)."""
    seed_all(seed)
    model = models.build("llama", cfg)
    rb = train_lm(model, data.LM_BASE_SOURCES, lr=2e-3, seed=seed, tag="base", **LLAMA_BASE_RUN)
    round_to(model, torch.bfloat16)
    base = models.to_numpy_state(model)
    seed_all(seed + 1)
    rf = train_lm(model, ("python",), lr=1e-3, seed=seed + 1, tag="python", **LLAMA_FT_RUN)
    round_to(model, torch.bfloat16)
    ft = models.to_numpy_state(model)
    return base, ft, {"train_base": rb, "train_finetune": rf, "train_seconds_base": rb["seconds"],
                      "train_seconds_finetune": rf["seconds"]}


# --------------------------------------------------------------------- BERT
def _mlm_batch(texts, rng, batch, ctx):
    """One masked-LM batch (15% of positions: 80% [MASK], 10% random byte, 10% kept), rows
    cycling through the texts. Returns (input ids, target ids, mask)."""
    rows = []
    for b in range(batch):
        t = texts[b % len(texts)]
        i = int(rng.integers(0, len(t) - ctx + 1))
        rows.append(torch.cat([torch.tensor([data.CLS]), t[i:i + ctx - 1]]))
    ids = torch.stack(rows)
    m = torch.from_numpy(rng.random(ids.shape) < 0.15)
    m[:, 0] = False
    inp = ids.clone()
    r = torch.from_numpy(rng.random(ids.shape))
    inp[m & (r < 0.8)] = data.MASK
    rand = m & (r >= 0.8) & (r < 0.9)
    inp[rand] = torch.from_numpy(rng.integers(data.OFFSET, data.OFFSET + 256, size=int(rand.sum())))
    return inp, ids, m


def train_mlm(model, lr, seed, max_steps, eval_every, patience, batch=64):
    """Masked-LM pre-training on an equal mixture of the five Debian text sources; validated
    by the masked-token loss on fixed batches from the sources' validation parts."""
    ctx = model.cfg["max_position_embeddings"]
    head = models.BertMLMHead(model.cfg, model.bert.embeddings.word_embeddings)
    params = list(model.bert.parameters()) + [p for n, p in head.named_parameters()
                                              if not n.startswith("emb.")]
    texts = [torch.from_numpy(data.encode_bytes(data.corpus(s, "train"))) for s in data.CLASSES]
    vtexts = [torch.from_numpy(data.encode_bytes(data.corpus(s, "val"))) for s in data.CLASSES]
    vrng = np.random.default_rng(seed + 99)
    val_batches = [_mlm_batch(vtexts, vrng, batch, ctx) for _ in range(8)]
    rng = np.random.default_rng(seed)

    def loss_of(inp, ids, m):
        h = model.bert(inp, inp != data.PAD)[m].float()
        with torch.autocast("cpu", enabled=False):  # the head's LayerNorm wants float32 input
            logits = head(h)
        return F.cross_entropy(logits, ids[m])

    rec = fit(model, params, lambda s: loss_of(*_mlm_batch(texts, rng, batch, ctx)),
              lambda: float(np.mean([float(loss_of(*vb)) for vb in val_batches])), lr=lr,
              max_steps=max_steps, eval_every=eval_every, patience=patience,
              higher_is_better=False, tag="bert mlm")
    return dict(rec, batch=batch, val_metric="masked-token cross-entropy (nats)")


def train_cls(model, lr, seed, max_steps, eval_every, patience, batch=64):
    """Source classification of 64-byte snippets; validated on 1,000 snippets from the
    sources' validation parts."""
    ids, labels = data.snippets("train", max_steps * batch // len(data.CLASSES) + 1, seed)
    vids, vlabels = data.snippets("val", 200, seed + 99)
    order = np.random.default_rng(seed).permutation(len(ids))

    def batch_loss(s):
        idx = order[s * batch:(s + 1) * batch]
        x = torch.from_numpy(ids[idx])
        return F.cross_entropy(model(x, x != data.PAD).float(), torch.from_numpy(labels[idx]))

    rec = fit(model, model.parameters(), batch_loss,
              lambda: float(ev.bert_correct(model, vids, vlabels).mean()), lr=lr,
              max_steps=max_steps, eval_every=eval_every, patience=patience,
              higher_is_better=True, tag="bert cls")
    return dict(rec, batch=batch, val_n=len(vids))


def make_bert_pair(cfg, seed):
    seed_all(seed)
    model = models.build("bert", cfg)
    rb = train_mlm(model, 1e-3, seed, **BERT_MLM_RUN)
    # The base as a user would download it: pre-trained encoder + pooler, and a freshly
    # initialised (seeded) classification head, exactly what fine-tuning starts from.
    torch.manual_seed(seed + 7)
    torch.nn.init.normal_(model.classifier.weight, std=0.02)
    torch.nn.init.zeros_(model.classifier.bias)
    base = models.to_numpy_state(model)
    seed_all(seed + 1)
    rf = train_cls(model, 5e-4, seed + 1, **BERT_CLS_RUN)
    ft = models.to_numpy_state(model)
    return base, ft, {"train_base": rb, "train_finetune": rf, "train_seconds_base": rb["seconds"],
                      "train_seconds_finetune": rf["seconds"]}


# Step limits (upper bounds; each run stops when its validation metric stops improving).
LLAMA_BASE_RUN = dict(max_steps=450, eval_every=75, patience=2)
LLAMA_FT_RUN = dict(max_steps=300, eval_every=75, patience=2)
BERT_MLM_RUN = dict(max_steps=300, eval_every=75, patience=2)
BERT_CLS_RUN = dict(max_steps=300, eval_every=50, patience=3)


# ------------------------------------------------------------------- driver
PAIRS = {
    "vit": dict(kind="vit", layout="file", dtype="F32", vit="full"),
    "vit-gentle": dict(kind="vit", layout="file", dtype="F32", vit="gentle"),
    "vit-lora": dict(kind="vit", layout="file", dtype="F32", vit="lora"),
    "llama": dict(kind="llama", layout="dir", dtype="BF16", shards=2),
    "bert": dict(kind="bert", layout="file", dtype="F32"),
    "vit-large": dict(kind="vit", layout="file", dtype="F32", vit="large"),
}


def pair_paths(out, name):
    d = os.path.join(out, name)
    if PAIRS[name]["layout"] == "dir":
        return os.path.join(d, "base"), os.path.join(d, "finetuned")
    return os.path.join(d, "base.safetensors"), os.path.join(d, "finetuned.safetensors")


def train_pair(name, out):
    """Returns cfg, base tensors, fine-tune tensors, training record."""
    spec = PAIRS[name]
    if "vit" in spec:
        return make_vit_finetune(spec["vit"], out)
    if name == "llama":
        cfg = models.llama_config(256, 4, 688)
        return cfg, *make_llama_pair(cfg, 20)
    if name == "bert":
        cfg = models.bert_config(256, 4, 512, vocab=260, ctx=65, labels=len(data.CLASSES))
        return cfg, *make_bert_pair(cfg, 30)
    raise ValueError(name)


def save(tensors, path, spec, cfg, meta):
    if spec["layout"] == "dir":
        st.save_dir(tensors, path, cfg, dtype=spec["dtype"], shards=spec.get("shards", 1), meta=meta)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        st.save_file(tensors, path, dtype=spec["dtype"], meta=meta)


def build_pair(name, out, force=False):
    spec = PAIRS[name]
    base_p, ft_p = pair_paths(out, name)
    info_p = os.path.join(out, name, "info.json")
    if not force and os.path.exists(info_p) and os.path.exists(base_p) and os.path.exists(ft_p):
        _log(f"{name}: cached in {os.path.join(out, name)}, skipping")
        return json.load(open(info_p))
    _log(f"{name}: training")
    torch.set_num_threads(2)
    cfg, base, ft, times = train_pair(name, out)
    meta = {"format": "pt", "deltacodec_zoo": name}
    save(base, base_p, spec, cfg, dict(meta, role="base"))
    save(ft, ft_p, spec, cfg, dict(meta, role="finetuned"))
    with open(os.path.join(out, name, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    info = {"name": name, "kind": spec["kind"], "config": cfg, **times,
            "params": int(sum(v.size for v in base.values())),
            "base": base_p, "finetuned": ft_p, "dtype": spec["dtype"]}
    info.update(measure(spec["kind"], base_p, ft_p))
    info["delta"] = delta_stats.delta_stats(base, ft)
    with open(info_p, "w") as f:
        json.dump(info, f, indent=2, sort_keys=True)
    _log(f"{name}: done {json.dumps({k: info[k] for k in info if k.startswith(('metric', 'train'))})}")
    return info


def measure(kind, base_p, ft_p):
    """Base and fine-tune on the fine-tune's task (and the base task), each with its 95%
    bootstrap interval, and the paired bootstrap of fine-tune minus base."""
    r_b = ev.evaluate(kind, base_p, units=True)
    r_f = ev.evaluate(kind, ft_p, units=True)
    gain = ev.paired_bootstrap(r_f["units"], r_b["units"])
    out = {"metric": r_f["metric"], "higher_is_better": r_f["higher_is_better"],
           "metric_base": r_b["value"], "metric_finetuned": r_f["value"], "metric_n": r_f["n"],
           "metric_units": r_f["n_units"], "metric_base_ci95": r_b["ci95"],
           "metric_finetuned_ci95": r_f["ci95"], "gain_paired": gain}
    if ev.ARCH_OF[kind] != "bert":
        bb, bf = ev.evaluate(kind, base_p, "base"), ev.evaluate(kind, ft_p, "base")
        out["base_task_metric_base"], out["base_task_metric_base_ci95"] = bb["value"], bb["ci95"]
        out["base_task_metric_finetuned"] = bf["value"]
        out["base_task_metric_finetuned_ci95"] = bf["ci95"]
    return out


def build_example(force=True, exdir=None):
    """examples/{base,finetuned}.safetensors: tiny ViT, fp16, < 4 MB in total."""
    exdir = exdir or os.path.join(ROOT, "examples")
    os.makedirs(exdir, exist_ok=True)
    base_p = os.path.join(exdir, "base.safetensors")
    ft_p = os.path.join(exdir, "finetuned.safetensors")
    if not force and os.path.exists(base_p) and os.path.exists(ft_p):
        return
    torch.set_num_threads(2)
    cfg = models.vit_config(128, 2, 512, 7)
    t0 = time.time()
    base, ft, times = make_vit_pair(cfg, 30000, 15000, 1, torch.float16)
    meta = {"format": "pt", "deltacodec_zoo": "example", "eval_kind": "tiny"}
    st.save_file(base, base_p, dtype="F16", meta=dict(meta, role="base"))
    st.save_file(ft, ft_p, dtype="F16", meta=dict(meta, role="finetuned"))
    info = {"name": "example", "kind": "tiny", "config": cfg, **times,
            "params": int(sum(v.size for v in base.values())),
            "bytes": os.path.getsize(base_p) + os.path.getsize(ft_p)}
    info.update(measure("tiny", base_p, ft_p))
    with open(os.path.join(exdir, "example_info.json"), "w") as f:
        json.dump(info, f, indent=2, sort_keys=True)
        f.write("\n")
    _log(f"example: {json.dumps(info)}  ({time.time() - t0:.0f}s)")


ORDER = ["vit", "vit-gentle", "vit-lora", "llama", "bert", "vit-large"]
DOC_BEGIN, DOC_END = "<!-- zoo-table:begin -->", "<!-- zoo-table:end -->"


def _m(v, metric, ci=None):
    f = (lambda x: f"{100 * x:.2f}%") if metric == "accuracy" else (lambda x: f"{x:.3f}")
    g = (lambda x: f"{100 * x:.2f}") if metric == "accuracy" else (lambda x: f"{x:.3f}")
    return f(v) + (f" [{g(ci[0])}, {g(ci[1])}]" if ci else "")


def _train(r):
    if not r:
        return "—"
    curve = ", ".join(str(round(100 * v, 2) if v <= 1 and "val_metric" not in r else v)
                      for v in r.get("val_curve", []))
    stop = "stopped: no gain" if r.get("stopped_early") else "ran to its limit"
    return (f"{r['steps']} steps, {r['seconds']:.0f} s (load {r['load_avg_mean']}); "
            f"validation {curve}; {stop}")


def render_doc(out, doc):
    """Rewrites the measured tables of docs/EVAL.md (between its zoo-table markers) from
    OUT/*/info.json, so the document always shows what the zoo on disk measured."""
    infos = [json.load(open(os.path.join(out, n, "info.json"))) for n in ORDER
             if os.path.exists(os.path.join(out, n, "info.json"))]
    rows, trows, drows = [], [], []
    for i in infos:
        m = i["metric"]
        g = i["gain_paired"]
        gain = (f"{100 * g['diff']:+.2f} pt [{100 * g['ci95'][0]:+.2f}, {100 * g['ci95'][1]:+.2f}]"
                if m == "accuracy" else
                f"{g['diff']:+.3f} [{g['ci95'][0]:+.3f}, {g['ci95'][1]:+.3f}]")
        bt = "—"
        if "base_task_metric_base" in i:
            bt = (f"{_m(i['base_task_metric_base'], m)} → {_m(i['base_task_metric_finetuned'], m)}")
        rows.append([i["name"], f"{i['params'] / 1e6:.2f} M", i["dtype"], m,
                     _m(i["metric_base"], m, i["metric_base_ci95"]),
                     _m(i["metric_finetuned"], m, i["metric_finetuned_ci95"]),
                     gain + (" (significant)" if g["significant"] else ""), bt])
        trows.append([i["name"], _train(i.get("train_base")), _train(i.get("train_finetune"))])
        d = i.get("delta", {})
        pk = d.get("per_kind", {})
        drows.append([i["name"], f"{d.get('rel', 0):.4f}"] +
                     [f"{pk[k]['rel']:.4f}" if k in pk else "—" for k in
                      ("attn_q", "attn_k", "attn_v", "attn_o", "mlp_in", "mlp_out", "embedding",
                       "head", "norm", "bias")] +
                     [f"{d['top8']['mean']:.3f} / {d['top8']['pooled']:.3f}" if "top8" in d else "—",
                      f"{d['top64']['mean']:.3f} / {d['top64']['pooled']:.3f}" if "top64" in d else "—"])

    def table(h, rs):
        return "\n".join(["| " + " | ".join(h) + " |", "|" + "|".join("---" for _ in h) + "|"] +
                          ["| " + " | ".join(map(str, r)) + " |" for r in rs])

    text = "\n\n".join([
        "Written by `eval/zoo.py --render-doc` from `zoo/*/info.json` "
        f"({time.strftime('%Y-%m-%d', time.gmtime())}). Metrics on the full test sets with 95% "
        "bootstrap intervals; the gain is the paired bootstrap of fine-tune minus base on the "
        "same examples (for bits per byte, negative is better).",
        table(["pair", "params", "dtype", "metric", "base [95% CI]", "fine-tune [95% CI]",
               "gain, paired [95% CI]", "base task: base → fine-tune"], rows),
        "Training (validation curve: accuracy in % for ViT and BERT classification, bits per "
        "byte for Llama, masked-token loss in nats for BERT pre-training):",
        table(["pair", "base", "fine-tune"], trows),
        "Delta statistics (`eval/delta_stats.py`; rel = ‖Δ‖/‖W_base‖ overall and per tensor "
        "kind; top-k = fraction of a matrix's ‖Δ‖² in its k largest singular directions, mean "
        "over the matrices / pooled):",
        table(["pair", "rel (all)", "attn_q", "attn_k", "attn_v", "attn_o", "mlp_in", "mlp_out",
               "embedding", "head", "norm", "bias", "top-8 energy", "top-64 energy"], drows)])
    s = open(doc).read()
    a, b = s.index(DOC_BEGIN) + len(DOC_BEGIN), s.index(DOC_END)
    with open(doc, "w") as f:
        f.write(s[:a] + "\n" + text + "\n" + s[b:])
    _log(f"wrote the zoo tables of {doc} ({len(infos)} pairs)")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default=",".join(PAIRS))
    ap.add_argument("--out", default=os.path.join(ROOT, "zoo"))
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--example", action="store_true")
    ap.add_argument("--example-dir", default=None, help="write the example pair here instead of examples/")
    ap.add_argument("--render-doc", action="store_true",
                    help="only rewrite docs/EVAL.md's measured tables from OUT/*/info.json")
    a = ap.parse_args(argv)
    doc = os.path.join(ROOT, "docs", "EVAL.md")
    if a.render_doc:
        render_doc(a.out, doc)
        return
    if a.example:
        build_example(exdir=a.example_dir)
        return
    for name in a.only.split(","):
        build_pair(name.strip(), a.out, a.force)
    if os.path.abspath(a.out) == os.path.join(ROOT, "zoo"):
        render_doc(a.out, doc)


if __name__ == "__main__":
    main()
