#!/usr/bin/python3
"""The synthetic pair of docs/results/svdmix_hybrid.md (NumPy): four 512x1024 F32 matrices whose
delta is a rank-32 part (directions decaying as 1/(1+j)) plus dense Gaussian noise that carries
NOISE_SHARE of the delta's energy (a high-rank delta with some structure, as an LM moved to a new
domain).

usage: /usr/bin/python3 docs/results/svdmix_hybrid_synthetic.py OUT_DIR NOISE_SHARE
writes OUT_DIR/base.safetensors and OUT_DIR/ft.safetensors (seed 7).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "eval"))
import st  # noqa: E402  (NumPy only)

out, noise_share = sys.argv[1], float(sys.argv[2])
rng = np.random.default_rng(7)
base, ft = {}, {}
for i in range(4):
    m, n, r = 512, 1024, 32
    b = rng.normal(0, 0.05, (m, n)).astype(np.float32)
    low = (rng.normal(0, 1, (m, r)) / (1 + np.arange(r))) @ rng.normal(0, 1, (r, n))
    low *= 2e-3 / np.sqrt(np.mean(low ** 2))
    z = rng.normal(0, 1, (m, n))
    z *= np.sqrt(noise_share / (1 - noise_share)) * 2e-3
    base[f"layer{i}.weight"] = b
    ft[f"layer{i}.weight"] = (b + low + z).astype(np.float32)
os.makedirs(out, exist_ok=True)
st.save_file(base, os.path.join(out, "base.safetensors"))
st.save_file(ft, os.path.join(out, "ft.safetensors"))
