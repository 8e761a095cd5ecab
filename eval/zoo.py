#!/usr/bin/python3
"""Train the model zoo: real (small) pre-trained bases and fine-tunes of them,
saved as safetensors with Hugging Face names and layouts. Deterministic (fixed
seeds, 2 threads). Pairs already cached under zoo/ are skipped.

usage: /usr/bin/python3 eval/zoo.py [--only vit,llama,bert] [--force] [--out zoo]
       /usr/bin/python3 eval/zoo.py --example     # (re)create examples/{base,finetuned}.safetensors

Pairs (see docs/EVAL.md):
  vit    ViT, hidden 256, 4 layers, MLP 512, patch 7; base: Fashion-MNIST (upright);
         fine-tune: Fashion-MNIST rotated 90 deg + inverted. fp32 single files.
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
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import data  # noqa: E402
import evaluate as ev  # noqa: E402
import models  # noqa: E402
import st  # noqa: E402


def seed_all(s):
    torch.manual_seed(s)
    np.random.seed(s)


def _opt(model, lr, steps, warmup=None, wd=0.01):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    warmup = warmup if warmup is not None else max(1, steps // 20)

    def f(step):
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, f)


def _step(model, opt, sched, loss):
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
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
def train_vit(model, task, images, epochs_frac, lr, seed, batch=128):
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


def make_vit_pair(cfg, base_images, ft_images, seed, dtype):
    seed_all(seed)
    model = models.build("vit", cfg)
    t0 = time.time()
    train_vit(model, "upright", base_images, None, 1e-3, seed)
    round_to(model, dtype)
    base = models.to_numpy_state(model)
    t1 = time.time()
    seed_all(seed + 1)
    train_vit(model, "rot", ft_images, None, 5e-4, seed + 1)
    round_to(model, dtype)
    ft = models.to_numpy_state(model)
    t2 = time.time()
    return base, ft, {"train_seconds_base": round(t1 - t0, 1), "train_seconds_finetune": round(t2 - t1, 1)}


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
    "vit": dict(kind="vit", layout="file", dtype="F32"),
    "llama": dict(kind="llama", layout="dir", dtype="BF16", shards=2),
    "bert": dict(kind="bert", layout="file", dtype="F32"),
}


def pair_paths(out, name):
    d = os.path.join(out, name)
    if PAIRS[name]["layout"] == "dir":
        return os.path.join(d, "base"), os.path.join(d, "finetuned")
    return os.path.join(d, "base.safetensors"), os.path.join(d, "finetuned.safetensors")


def train_pair(name):
    if name == "vit":
        return models.vit_config(256, 4, 512, 7), *make_vit_pair(
            models.vit_config(256, 4, 512, 7), 60000, 30000, 10, torch.float32)
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
    cfg, base, ft, times = train_pair(name)
    meta = {"format": "pt", "deltacodec_zoo": name}
    save(base, base_p, spec, cfg, dict(meta, role="base"))
    save(ft, ft_p, spec, cfg, dict(meta, role="finetuned"))
    with open(os.path.join(out, name, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    info = {"name": name, "kind": spec["kind"], "config": cfg, **times,
            "params": int(sum(v.size for v in base.values())),
            "base": base_p, "finetuned": ft_p, "dtype": spec["dtype"]}
    info.update(measure(spec["kind"], base_p, ft_p))
    with open(info_p, "w") as f:
        json.dump(info, f, indent=2, sort_keys=True)
    _log(f"{name}: done {json.dumps({k: info[k] for k in info if k.startswith(('metric', 'train'))})}")
    return info


def measure(kind, base_p, ft_p):
    r_b = ev.evaluate(kind, base_p)
    r_f = ev.evaluate(kind, ft_p)
    out = {"metric": r_f["metric"], "higher_is_better": r_f["higher_is_better"],
           "metric_base": r_b["value"], "metric_finetuned": r_f["value"], "metric_n": r_f["n"]}
    if ev.ARCH_OF[kind] != "bert":
        out["base_task_metric_base"] = ev.evaluate(kind, base_p, "base")["value"]
        out["base_task_metric_finetuned"] = ev.evaluate(kind, ft_p, "base")["value"]
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
    ap.add_argument("--only", default="vit,llama,bert")
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
