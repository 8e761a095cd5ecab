#!/usr/bin/python3
"""Statistics of a fine-tune's delta Δ = fine-tune − base (what deltacodec compresses).

usage: /usr/bin/python3 eval/delta_stats.py BASE FINETUNED [--json]
       BASE, FINETUNED: .safetensors files or model directories (as eval/evaluate.py takes)

Reports
  rel      ‖Δ‖ / ‖W_base‖ over all tensors, and per tensor kind (attn_q, attn_k, attn_v,
           attn_o, mlp_in, mlp_out, embedding, norm, head, bias, other)
  top8 / top64
           fraction of ‖Δ‖² held by the 8 (64) largest singular directions of each
           matrix Δ (conv kernels flattened to [out, in·kh·kw]), averaged over the matrices
           ("mean") and pooled ("pooled": Σ top-k energy / Σ energy, big matrices weigh more).
           A merged LoRA adapter of rank r has top-r energy 1 (up to rounding).
"""
from __future__ import annotations

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.abspath(__file__)))
import torch_env  # noqa: E402,F401  (before numpy/torch: OpenMP and OpenBLAS settings)

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

# (substring of the tensor name, kind); the first match wins. HF ViT, BERT and Llama names.
KINDS = [("LayerNorm", "norm"), ("layernorm", "norm"), ("norm.weight", "norm"),
         (".bias", "bias"), ("embed", "embedding"), ("classifier", "head"),
         ("lm_head", "head"), ("pooler", "head"), ("query", "attn_q"), ("q_proj", "attn_q"),
         ("key", "attn_k"), ("k_proj", "attn_k"), ("value", "attn_v"), ("v_proj", "attn_v"),
         ("attention.output.dense", "attn_o"), ("o_proj", "attn_o"),
         ("intermediate.dense", "mlp_in"), ("gate_proj", "mlp_in"), ("up_proj", "mlp_in"),
         ("output.dense", "mlp_out"), ("down_proj", "mlp_out")]


def kind_of(name: str) -> str:
    for sub, k in KINDS:
        if sub in name:
            return k
    return "other"


def top_energy(d: np.ndarray, ks=(8, 64)):
    """Fraction of ‖d‖² in the top-k singular values, for each k (d a matrix)."""
    s2 = np.linalg.svd(d.astype(np.float64), compute_uv=False) ** 2
    tot = s2.sum()
    return {k: (float(s2[:k].sum() / tot) if tot > 0 else 1.0) for k in ks}, float(tot)


def delta_stats(base: dict, ft: dict, ks=(8, 64)) -> dict:
    if set(base) != set(ft):
        raise ValueError("base and fine-tune have different tensor names")
    per_kind, mats = {}, []
    dn2 = wn2 = 0.0
    for name in sorted(ft):
        w = base[name].astype(np.float64)
        d = ft[name].astype(np.float64) - w
        if d.shape != w.shape:
            raise ValueError(f"{name}: shapes differ {w.shape} vs {d.shape}")
        a, b = float((d * d).sum()), float((w * w).sum())
        dn2 += a
        wn2 += b
        k = per_kind.setdefault(kind_of(name), {"delta2": 0.0, "w2": 0.0, "tensors": 0, "params": 0})
        k["delta2"] += a
        k["w2"] += b
        k["tensors"] += 1
        k["params"] += d.size
        if d.ndim >= 2 and min(d.shape[0], d.size // d.shape[0]) >= 2:
            m = d.reshape(d.shape[0], -1)
            e, tot = top_energy(m, ks)
            mats.append((name, m.shape, e, tot))
    out = {"rel": (dn2 / wn2) ** 0.5 if wn2 > 0 else None, "matrices": len(mats), "per_kind": {}}
    for k, v in sorted(per_kind.items()):
        out["per_kind"][k] = {"rel": (v["delta2"] / v["w2"]) ** 0.5 if v["w2"] > 0 else None,
                              "tensors": v["tensors"], "params": v["params"],
                              "delta_energy_share": v["delta2"] / dn2 if dn2 > 0 else 0.0}
    etot = sum(m[3] for m in mats)
    for k in ks:
        out[f"top{k}"] = {"mean": float(np.mean([m[2][k] for m in mats])) if mats else None,
                          "pooled": (sum(m[2][k] * m[3] for m in mats) / etot) if etot > 0 else None}
    return out


def render(s: dict) -> str:
    L = [f"rel ‖Δ‖/‖W‖ {s['rel']:.4f} over all tensors; {s['matrices']} matrices: "
         + ", ".join(f"top-{k[3:]} energy {v['mean']:.3f} (mean) / {v['pooled']:.3f} (pooled)"
                     for k, v in s.items() if k.startswith("top"))]
    for k, v in s["per_kind"].items():
        rel = "—" if v["rel"] is None else f"{v['rel']:.4f}"
        L.append(f"  {k:10s} rel {rel}  share of ‖Δ‖² {v['delta_energy_share']:.3f}  "
                 f"({v['tensors']} tensors, {v['params']} params)")
    return "\n".join(L)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("base")
    ap.add_argument("finetuned")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    s = delta_stats(st.load(a.base), st.load(a.finetuned))
    print(json.dumps(s, indent=1) if a.json else render(s))


if __name__ == "__main__":
    main()
