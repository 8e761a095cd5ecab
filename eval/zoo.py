#!/usr/bin/python3
"""Train the model zoo: real (small) pre-trained bases and fine-tunes of them,
saved as safetensors with Hugging Face names and layouts. Deterministic (fixed
seeds, 2 threads). Pairs already cached under zoo/ are skipped.

usage: /usr/bin/python3 eval/zoo.py [--only vit,llama,bert] [--force] [--out zoo]
       /usr/bin/python3 eval/zoo.py --example     # (re)create examples/{base,finetuned}.safetensors

Pairs (see docs/EVAL.md):
  vit         ViT, hidden 128, 4 layers, MLP 512, patch 7; base: Fashion-MNIST (upright,
              zoo/vit-base/, shared by the three ViT pairs); full fine-tune on Fashion-MNIST
              rotated 90 deg + inverted. fp32 single files. Validation split (5,000 training
              images) for early stopping; the test images are never seen.
  vit-gentle  same base; fine-tune at 1/20 of the learning rate on 10,000 images.
  vit-lora    same base; LoRA rank 16 on q/k/v/o and both MLP projections (+ classifier),
              merged into the weights: the base's names and shapes.
  llama  Llama, hidden 256, 4 layers, MLP 688, byte vocab; base: license prose;
         fine-tune: Python stdlib source. bf16 model directories, 2 shards each.
  bert   BERT, hidden 256, 4 layers, MLP 512, byte vocab; base: masked-LM on mixed
         Debian text; fine-tune: 5-way source classification of 64-byte snippets. fp32.
  example (examples/) tiny ViT, hidden 128, 2 layers, MLP 512, fp16, same tasks as vit.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

# OpenMP threads sleep instead of spinning while they wait: on the shared 2-core machine
# (load 8-12 from parallel builds) spinning made a 2-thread training step ~2.5x slower.
# Results are unchanged (same thread count, same work split).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
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


@torch.no_grad()
def _vit_val_accuracy(model, x, y, batch=500):
    model.eval()
    c = 0
    for i in range(0, len(x), batch):
        c += int((model(torch.from_numpy(x[i:i + batch])).argmax(-1).numpy() == y[i:i + batch]).sum())
    model.train()
    return c / len(x)


def train_vit(model, task, *, lr, max_epochs, seed, images_per_epoch=None, patience=1,
              params=None, batch=128, tag=""):
    """Train on the task's training images minus a fixed validation split; after each
    epoch measure validation accuracy and keep the best weights; stop early when it has
    not improved for `patience` epochs (cosine schedule over max_epochs).
    Returns a training record (steps, seconds, load, validation curve)."""
    x, y = data.fashion_mnist("train", task)
    tr, va = data.fashion_mnist_split()
    xv, yv = x[va], y[va]
    rng = np.random.default_rng(seed)
    per_epoch = (images_per_epoch or len(tr)) // batch
    params = list(params) if params is not None else list(model.parameters())
    opt, sched = _opt(None, lr, per_epoch * max_epochs, params=params)
    clock, curve = Clock(), []
    best, best_state, bad = -1.0, None, 0
    model.train()
    for ep in range(max_epochs):
        order = rng.permutation(tr)
        for s in range(per_epoch):
            idx = np.sort(order[s * batch:(s + 1) * batch])
            loss = F.cross_entropy(model(torch.from_numpy(x[idx])), torch.from_numpy(y[idx]))
            _step(None, opt, sched, loss, params)
            clock.steps += 1
            if s % 50 == 0:
                clock.sample()
                _log(f"vit {tag} epoch {ep} step {s}/{per_epoch} loss {float(loss):.3f} "
                     f"({time.time() - clock.t0:.0f}s, load {os.getloadavg()[0]:.1f})")
        acc = _vit_val_accuracy(model, xv, yv)
        curve.append(round(acc, 4))
        _log(f"vit {tag} epoch {ep}: validation accuracy {acc:.4f}")
        if acc > best:
            best, bad = acc, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    return dict(clock.info(), lr=lr, batch=batch, max_epochs=max_epochs, epochs=len(curve),
                images_per_epoch=per_epoch * batch, val_curve=curve, val_best=round(best, 4),
                val_n=len(va), stopped_early=len(curve) < max_epochs)


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


# hidden 128 (2 heads), 4 layers: what the shared machine allowed this session (docs/EVAL.md)
VIT_CFG = dict(hidden=128, layers=4, inter=512, patch=7)
VIT_SEED = 10
VIT_FT_LR = 5e-4
VIT_BASE_EPOCHS = 1   # step budgets for the shared 2-core machine (see docs/EVAL.md)
VIT_FT_EPOCHS = 2
VIT_LORA_EPOCHS = 1


def vit_base(out):
    """The converged upright base, shared by the three ViT fine-tunes; cached in
    OUT/vit-base/ (base.safetensors + train.json), trained when missing."""
    d = os.path.join(out, "vit-base")
    p, rp = os.path.join(d, "base.safetensors"), os.path.join(d, "train.json")
    cfg = models.vit_config(**VIT_CFG)
    if os.path.exists(p) and os.path.exists(rp):
        return cfg, st.load(p), json.load(open(rp))
    _log("vit-base: training")
    torch.set_num_threads(2)
    seed_all(VIT_SEED)
    model = models.build("vit", cfg)
    rec = train_vit(model, "upright", lr=1e-3, max_epochs=VIT_BASE_EPOCHS, seed=VIT_SEED, tag="base")
    base = models.to_numpy_state(model)
    os.makedirs(d, exist_ok=True)
    st.save_file(base, p, dtype="F32", meta={"format": "pt", "deltacodec_zoo": "vit-base"})
    with open(rp, "w") as f:
        json.dump(rec, f, indent=2, sort_keys=True)
    return cfg, base, rec


def make_vit_finetune(variant, out):
    cfg, base, rec_b = vit_base(out)
    model = models.build("vit", cfg)
    models.load_state(model, base)
    seed_all(VIT_SEED + 1)
    if variant == "full":
        rec = train_vit(model, "rot", lr=VIT_FT_LR, max_epochs=VIT_FT_EPOCHS, seed=VIT_SEED + 1, tag="full")
    elif variant == "gentle":
        # 1/20 of the full fine-tune's learning rate, one short epoch (10,000 images).
        rec = train_vit(model, "rot", lr=VIT_FT_LR / 20, max_epochs=1, images_per_epoch=10000,
                        seed=VIT_SEED + 2, tag="gentle")
    elif variant == "lora":
        rec = vit_lora(model, 16, 32, VIT_SEED + 3, lr=2e-3, max_epochs=VIT_LORA_EPOCHS, tag="lora")
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
def train_lm(model, text: bytes, steps, lr, seed, batch=16, ctx=256, tag=""):
    tok = torch.from_numpy(data.as_tokens(text))
    rng = np.random.default_rng(seed)
    opt, sched = _opt(model, lr, steps)
    model.train()
    for s in range(steps):
        starts = rng.integers(0, len(tok) - ctx - 1, size=batch)
        w = torch.stack([tok[i:i + ctx + 1] for i in starts])
        logits = model(w[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1))
        _step(model, opt, sched, loss)
        if s % 25 == 0:
            _log(f"llama {tag} step {s}/{steps} loss {float(loss):.3f}")
    model.eval()


def make_llama_pair(cfg, base_steps, ft_steps, seed):
    seed_all(seed)
    model = models.build("llama", cfg)
    t0 = time.time()
    train_lm(model, data.corpus("prose", "train"), base_steps, 2e-3, seed, tag="prose")
    round_to(model, torch.bfloat16)
    base = models.to_numpy_state(model)
    t1 = time.time()
    seed_all(seed + 1)
    train_lm(model, data.corpus("python", "train"), ft_steps, 1e-3, seed + 1, tag="python")
    round_to(model, torch.bfloat16)
    ft = models.to_numpy_state(model)
    t2 = time.time()
    return base, ft, {"train_seconds_base": round(t1 - t0, 1), "train_seconds_finetune": round(t2 - t1, 1)}


# --------------------------------------------------------------------- BERT
def train_mlm(model, steps, lr, seed, batch=64):
    """Masked-LM pre-training on an equal mixture of the five Debian text sources."""
    cfg = model.cfg
    ctx = cfg["max_position_embeddings"]
    head = models.BertMLMHead(cfg, model.bert.embeddings.word_embeddings)
    params = list(model.bert.parameters()) + [p for n, p in head.named_parameters()
                                              if not n.startswith("emb.")]
    texts = [torch.from_numpy(data.encode_bytes(data.corpus(s, "train"))) for s in data.CLASSES]
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else
        0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, steps - warm))))
    model.train()
    for s in range(steps):
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
        inp[rand] = torch.from_numpy(rng.integers(data.OFFSET, data.OFFSET + 256,
                                                  size=int(rand.sum())))
        h = model.bert(inp, inp != data.PAD)
        logits = head(h[m])
        loss = F.cross_entropy(logits, ids[m])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if s % 25 == 0:
            _log(f"bert mlm step {s}/{steps} loss {float(loss):.3f}")
    model.eval()


def train_cls(model, steps, lr, seed, batch=64):
    ids, labels = data.snippets("train", steps * batch // len(data.CLASSES) + 1, seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ids))
    opt, sched = _opt(model, lr, steps)
    model.train()
    for s in range(steps):
        idx = order[s * batch:(s + 1) * batch]
        x = torch.from_numpy(ids[idx])
        loss = F.cross_entropy(model(x, x != data.PAD), torch.from_numpy(labels[idx]))
        _step(model, opt, sched, loss)
        if s % 25 == 0:
            _log(f"bert cls step {s}/{steps} loss {float(loss):.3f}")
    model.eval()


def make_bert_pair(cfg, mlm_steps, cls_steps, seed):
    seed_all(seed)
    model = models.build("bert", cfg)
    t0 = time.time()
    train_mlm(model, mlm_steps, 1e-3, seed)
    # The base as a user would download it: pre-trained encoder + pooler, and a freshly
    # initialised (seeded) classification head, exactly what fine-tuning starts from.
    torch.manual_seed(seed + 7)
    torch.nn.init.normal_(model.classifier.weight, std=0.02)
    torch.nn.init.zeros_(model.classifier.bias)
    base = models.to_numpy_state(model)
    t1 = time.time()
    seed_all(seed + 1)
    train_cls(model, cls_steps, 4e-4, seed + 1)
    ft = models.to_numpy_state(model)
    t2 = time.time()
    return base, ft, {"train_seconds_base": round(t1 - t0, 1), "train_seconds_finetune": round(t2 - t1, 1)}


# ------------------------------------------------------------------- driver
PAIRS = {
    "vit": dict(kind="vit", layout="file", dtype="F32", vit="full"),
    "vit-gentle": dict(kind="vit", layout="file", dtype="F32", vit="gentle"),
    "vit-lora": dict(kind="vit", layout="file", dtype="F32", vit="lora"),
    "llama": dict(kind="llama", layout="dir", dtype="BF16", shards=2),
    "bert": dict(kind="bert", layout="file", dtype="F32"),
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
        return cfg, *make_llama_pair(cfg, 80, 50, 20)
    if name == "bert":
        cfg = models.bert_config(256, 4, 512, vocab=260, ctx=65, labels=len(data.CLASSES))
        return cfg, *make_bert_pair(cfg, 60, 50, 30)
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


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default=",".join(PAIRS))
    ap.add_argument("--out", default=os.path.join(ROOT, "zoo"))
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--example", action="store_true")
    ap.add_argument("--example-dir", default=None, help="write the example pair here instead of examples/")
    a = ap.parse_args(argv)
    if a.example:
        build_example(exdir=a.example_dir)
        return
    for name in a.only.split(","):
        build_pair(name.strip(), a.out, a.force)


if __name__ == "__main__":
    main()
