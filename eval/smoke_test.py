#!/usr/bin/python3
"""Smoke test of the harness against a real deltacodec binary (CI runs it via `make test`).

usage: /usr/bin/python3 eval/smoke_test.py --cli build/deltacodec [--keep DIR]

Trains a very small ViT pair (hidden 64, 2 layers, MLP 256; under a minute on 2
cores), then: compress with --report, decompress, compare the rebuilt checkpoint
with the fine-tune, evaluate it, round-trip the same pair stored as a bf16
two-shard model directory, and render the results tables from the rows. Prints
one line per check and finally `smoke: N passed, M failed`; exits 1 on any failure.
"""
from __future__ import annotations

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.abspath(__file__)))
import torch_env  # noqa: E402,F401  (before numpy/torch: OpenMP and OpenBLAS settings)

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st  # noqa: E402

RESULTS = []


def check(name):
    def deco(fn):
        def run(*a, **kw):
            t0 = time.time()
            try:
                out = fn(*a, **kw)
                RESULTS.append((name, True, ""))
                print(f"PASS {name} ({time.time() - t0:.1f}s)", flush=True)
                return out
            except Exception as e:  # noqa: BLE001
                RESULTS.append((name, False, str(e)))
                print(f"FAIL {name}: {e}", flush=True)
                if os.environ.get("SMOKE_VERBOSE"):
                    traceback.print_exc()
                return None
        return run
    return deco


def sh(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} -> rc {r.returncode}: {(r.stderr or r.stdout)[-400:]}")
    return r


@check("safetensors I/O (F32/F16/BF16, shards)")
def t_io(tmp):
    rng = np.random.default_rng(0)
    t = {"a.weight": rng.standard_normal((33, 17)).astype(np.float32),
         "b": np.float32(rng.standard_normal(5)), "c.bias": np.zeros(0, np.float32)}
    for dt, tol in (("F32", 0), ("F16", 1e-3), ("BF16", 1e-2)):
        p = os.path.join(tmp, f"io_{dt}.safetensors")
        st.save_file(t, p, dtype=dt, meta={"k": "v"})
        with open(p, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
        assert n % 8 == 0, "header not padded to 8"
        back = st.load(p)
        assert st.metadata(p) == {"k": "v"}
        for k in t:
            assert back[k].shape == t[k].shape, k
            assert np.allclose(back[k], t[k], rtol=tol, atol=tol), (dt, k)
    d = os.path.join(tmp, "io_dir")
    st.save_dir(t, d, {"model_type": "x"}, dtype="BF16", shards=2)
    idx = json.load(open(os.path.join(d, "model.safetensors.index.json")))
    assert len(set(idx["weight_map"].values())) == 2 and set(idx["weight_map"]) == set(t)
    assert set(st.load(d)) == set(t)


@check("train tiny pair; fine-tune beats base")
def t_train():
    import torch
    import models
    import zoo
    import evaluate as ev
    torch.set_num_threads(2)
    cfg = models.vit_config(64, 2, 256, 7)
    base, ft, times = zoo.make_vit_pair(cfg, 12800, 6400, 5, torch.float16)
    mb = ev.evaluate("smoke", base)["value"]
    mf = ev.evaluate("smoke", ft)["value"]
    print(f"     base {mb:.4f} -> fine-tune {mf:.4f} (trained in "
          f"{times['train_seconds_base'] + times['train_seconds_finetune']:.0f}s)")
    assert mf > mb + 0.25, f"fine-tune {mf:.3f} does not beat base {mb:.3f} by 25 points"
    return base, ft, mb, mf


@check("compress with --report")
def t_compress(cli, tmp, base_p, ft_p):
    dcx = os.path.join(tmp, "smoke.dcx")
    rep = os.path.join(tmp, "smoke.json")
    sh([cli, "compress", base_p, ft_p, "-o", dcx, "--report", rep, "-T", "2", "-f", "-q"])
    r = json.load(open(rep))
    s = r["summary"]
    for k in ("ratio", "bits_per_param", "bits_per_param_all", "rel_error", "dcx_bytes",
              "delta_bytes", "tensors_compressed", "tensors_lossless"):
        assert k in s, f"report summary lacks {k}"
    assert s["dcx_bytes"] == os.path.getsize(dcx), "dcx_bytes != file size"
    assert s["tensors_compressed"] > 0, "nothing compressed at the default p=64"
    assert s["ratio"] > 1.5, f"ratio {s['ratio']} too low"
    assert 0 < s["rel_error"] < 1.0, f"rel_error {s['rel_error']}"
    assert isinstance(r.get("tensors"), list) and r["tensors"], "no per-tensor rows"
    print(f"     ratio {s['ratio']:.2f}x, {s['bits_per_param']:.3f} bits/param, "
          f"rel. error {s['rel_error']:.3f}")
    return dcx, s


@check("decompress; rebuilt matches names/shapes/dtypes, exact where lossless")
def t_decompress(cli, tmp, base_p, ft_p, dcx, summary):
    out = os.path.join(tmp, "rebuilt.safetensors")
    sh([cli, "decompress", base_p, dcx, "-o", out, "-f"])
    hf, _ = st.read_header(ft_p)
    hr, _ = st.read_header(out)
    hf.pop("__metadata__", None)
    hr.pop("__metadata__", None)
    assert set(hf) == set(hr), f"tensor names differ: {set(hf) ^ set(hr)}"
    for k in hf:
        assert hf[k]["dtype"] == hr[k]["dtype"] and hf[k]["shape"] == hr[k]["shape"], k
    b, f, r = st.load(base_p), st.load(ft_p), st.load(out)
    # classifier / norms / embeddings are outside the default selection: stored exactly
    for k in ("classifier.weight", "vit.layernorm.weight"):
        assert np.array_equal(r[k], f[k]), f"{k} not exact"
    num = sum(float(((r[k].astype(np.float64) - f[k]) ** 2).sum()) for k in f)
    den = sum(float(((f[k].astype(np.float64) - b[k]) ** 2).sum()) for k in f)
    err = (num / den) ** 0.5
    assert abs(err - summary["rel_error"]) < 0.02 + 0.05 * err, \
        f"measured rel. error {err:.4f} vs reported {summary['rel_error']:.4f}"
    return out, err


def _metric(path, *extra, full=False):
    r = subprocess.run([sys.executable, os.path.join(HERE, "evaluate.py"), "smoke", path,
                        "--json", *extra], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-400:]
    j = json.loads(r.stdout)
    return j if full else j["value"]


@check("evaluate rebuilt: default settings beat the base, 8-bit keeps >= 90% of the gain")
def t_evaluate(cli, tmp, base_p, rebuilt, mb, mf):
    j = _metric(rebuilt, "--against", base_p, full=True)
    m, (lo, hi), vs = j["value"], j["ci95"], j["against"]
    print(f"     paired vs base: {vs['diff']:+.4f} [{vs['ci95'][0]:+.4f}, {vs['ci95'][1]:+.4f}], "
          f"interval of the metric [{lo:.4f}, {hi:.4f}]")
    assert lo < m < hi and hi - lo < 0.03, f"bad 95% interval [{lo}, {hi}] around {m}"
    assert vs["value"] == mb and abs(vs["diff"] - (m - mb)) < 1e-12 and vs["significant"]
    kept = (m - mb) / (mf - mb)
    print(f"     default: {m:.4f} (fine-tune {mf:.4f}, base {mb:.4f}; {100 * kept:.0f}% of the gain kept)")
    assert m > mb + 0.1, f"rebuilt model ({m:.3f}) is not clearly better than the base ({mb:.3f})"
    ft_p = os.path.join(tmp, "ft.safetensors")
    dcx, out = os.path.join(tmp, "b8.dcx"), os.path.join(tmp, "b8.safetensors")
    sh([cli, "compress", base_p, ft_p, "-o", dcx, "--method", "dct", "--patch", "16",
        "--bits", "8:1", "-f", "-q"])
    sh([cli, "decompress", base_p, dcx, "-o", out, "-f"])
    m8 = _metric(out)
    kept8 = (m8 - mb) / (mf - mb)
    print(f"     dct p16 8-bit: {m8:.4f} ({100 * kept8:.0f}% of the gain kept)")
    assert kept8 >= 0.9, f"8-bit rebuild kept only {100 * kept8:.0f}% of the gain"
    return m


@check("examples/accuracy.py (NumPy, make demo) gives PyTorch's accuracies")
def t_numpy_accuracy(base_p, ft_p, mb, mf):
    sys.path.insert(0, os.path.join(HERE, "..", "examples"))
    import accuracy
    for name, path, want in (("base", base_p, mb), ("fine-tune", ft_p, mf)):
        got = accuracy.accuracy(path)
        print(f"     {name}: NumPy {got:.4f}, PyTorch {want:.4f}")
        assert abs(got - want) <= 0.0005, f"{name}: NumPy {got:.4f} vs PyTorch {want:.4f}"


@check("bf16 sharded model directory round trip")
def t_dir(cli, tmp, base, ft):
    bd, fd = os.path.join(tmp, "base_dir"), os.path.join(tmp, "ft_dir")
    cfg = {"model_type": "vit"}
    st.save_dir(base, bd, cfg, dtype="BF16", shards=2)
    st.save_dir(ft, fd, cfg, dtype="BF16", shards=2)
    dcx, out = os.path.join(tmp, "dir.dcx"), os.path.join(tmp, "rebuilt_dir")
    sh([cli, "compress", bd, fd, "-o", dcx, "-f", "-q"])
    sh([cli, "decompress", bd, dcx, "-o", out, "-f"])
    assert os.path.isdir(out), "directory fine-tune did not rebuild as a directory"
    assert os.path.exists(os.path.join(out, "model.safetensors.index.json")) or \
        os.path.exists(os.path.join(out, "model.safetensors")), "no safetensors in rebuilt dir"
    r, f = st.load(out), st.load(fd)
    assert set(r) == set(f)
    for k in f:
        assert r[k].shape == f[k].shape
    hdr_dtypes = set()
    for fn in os.listdir(out):
        if fn.endswith(".safetensors"):
            h, _ = st.read_header(os.path.join(out, fn))
            hdr_dtypes |= {v["dtype"] for k, v in h.items() if k != "__metadata__"}
    assert hdr_dtypes == {"BF16"}, f"rebuilt dtypes {hdr_dtypes}"


@check("results tables and plot render")
def t_tables(tmp, rows_src):
    import run_experiments as rx
    ref = {"ft": rows_src["mf"], "base": rows_src["mb"], "metric": "accuracy", "higher": True,
           "ft_ci95": [rows_src["mf"] - 0.01, rows_src["mf"] + 0.01], "n": 10000}
    row = {"method": "dwt", "p": 64, "strategy": "2:0.5,0:0.5", "bands": "ll_lh_hl",
           "quant_table": "none", "importance": "pre", "options": "bands=ll_lh_hl",
           "ratio": rows_src["s"]["ratio"], "ratio_file": 1.0,
           "bits_per_param": rows_src["s"]["bits_per_param"], "bits_per_param_all": 1.0,
           "rel_error": rows_src["s"]["rel_error"], "rel_error_measured": rows_src["err"],
           "metric": "accuracy", "value": rows_src["m"], "change": rows_src["m"] - ref["ft"],
           "significant": True, "change_ci95": [-0.02, -0.01],
           "gain_kept": 0.9, "command": "deltacodec compress ...", "error": "",
           "tables": ["2.3", "ex"], "table": "2.3"}
    pair = {"kind": "smoke", "info": {"config": {}, "params": 1}}
    res = {"vit": {"pair": pair, "ref": ref, "rows": [row]},
           "example": {"pair": pair, "ref": ref, "rows": [row]}}

    class A:
        quick, threads = True, 2
    out = os.path.join(tmp, "docs")
    rx.write_results(res, out, A, "smoke", 1.0)
    text = open(os.path.join(out, "RESULTS.md")).read()
    assert "Table 2.3" in text and "example pair" in text
    assert " pt*" in text and "[95% CI]" in text, "significance mark or interval missing"
    assert os.path.getsize(os.path.join(out, "results", "metric_vs_ratio.png")) > 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--keep", default=None, help="keep the work files in this directory")
    a = ap.parse_args()
    cli = os.path.abspath(a.cli)
    t0 = time.time()
    tmp = a.keep or tempfile.mkdtemp(prefix="dcx-smoke-")
    os.makedirs(tmp, exist_ok=True)
    try:
        if not os.access(cli, os.X_OK):
            RESULTS.append(("cli exists", False, cli))
            print(f"FAIL cli: {cli} is not executable")
        t_io(tmp)
        trained = t_train()
        if trained and os.access(cli, os.X_OK):
            base, ft, mb, mf = trained
            base_p, ft_p = os.path.join(tmp, "base.safetensors"), os.path.join(tmp, "ft.safetensors")
            st.save_file(base, base_p, dtype="F16")
            st.save_file(ft, ft_p, dtype="F16")
            c = t_compress(cli, tmp, base_p, ft_p)
            d = t_decompress(cli, tmp, base_p, ft_p, *c) if c else None
            m = t_evaluate(cli, tmp, base_p, d[0], mb, mf) if d else None
            t_numpy_accuracy(base_p, ft_p, mb, mf)
            t_dir(cli, tmp, base, ft)
            if c and d and m is not None:
                t_tables(tmp, {"mf": mf, "mb": mb, "s": c[1], "err": d[1], "m": m})
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    passed = sum(1 for r in RESULTS if r[1])
    failed = len(RESULTS) - passed
    print(f"smoke: total {time.time() - t0:.0f}s")
    print(f"smoke: {passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
