#!/usr/bin/python3
"""Take each zoo pair (and the example pair) through `deltacodec compress` and
`decompress` over the seed's grid of settings, measure the task metric of every
rebuilt checkpoint, and write docs/RESULTS.md, docs/results/*.csv and
docs/results/*.png.

usage: /usr/bin/python3 eval/run_experiments.py --cli build/deltacodec
           [--models example,vit,vit-gentle,vit-lora,llama,bert] [--quick] [--threads 2]
           [--out docs] [--work DIR] [--keep]

--quick   a reduced grid (p=32/64 only, two strategies) for a fast look; RESULTS.md says so.
Zoo pairs missing from zoo/ are skipped with a note (run `make zoo` first).
Each rebuilt checkpoint's metric is compared with the fine-tune's on the same test
examples by a paired bootstrap (eval/evaluate.py); RESULTS.md marks a change "*" only
when its 95% interval excludes 0.
The hand-written discussion lives in docs/results/discussion.md and is pasted
into RESULTS.md unchanged.
"""
from __future__ import annotations

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.abspath(__file__)))
import torch_env  # noqa: E402,F401  (before numpy/torch: OpenMP and OpenBLAS settings)

import argparse
import csv
import datetime
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import evaluate as ev  # noqa: E402
import st  # noqa: E402

# The seed's four bit-allocation strategies, named as in its report.
STRATEGIES = {
    "2:0.5,0:0.5": "50/50, 2-bit",
    "4:0.5,0:0.5": "50/50, 4-bit",
    "2:0.34,1:0.33,0:0.33": "triple, lower fidelity",
    "4:0.34,2:0.33,0:0.33": "triple, higher fidelity",
}
S_LIST = list(STRATEGIES)
SEED_DCT_BEST = "2:0.34,1:0.33,0:0.33"   # seed's optimal DCT: 32px, triple-precision, lower fidelity
SEED_DWT_BEST = "2:0.5,0:0.5"            # seed's optimal DWT: 64px, 50/50 split

MODEL_LABEL = {"example": "example (tiny ViT)", "vit": "ViT / Fashion-MNIST-rot",
               "vit-gentle": "ViT, gentle fine-tune", "vit-lora": "ViT, LoRA r16 merged",
               "llama": "Llama / Python code", "bert": "BERT / snippet source",
               "vit-large": "ViT-large (hidden 512, 8 layers)"}
MODEL_ORDER = ["vit", "vit-gentle", "vit-lora", "llama", "bert", "vit-large", "example"]

FIELDS = ["model", "table", "method", "p", "strategy", "bands", "quant_table", "importance",
          "options", "ratio", "ratio_file", "bits_per_param", "bits_per_param_all", "rel_error",
          "rel_error_measured", "metric", "value", "value_ci95", "change", "change_ci95",
          "significant", "gain_kept", "dcx_bytes",
          "compress_s", "decompress_s", "command", "error"]


# ------------------------------------------------------------------ configurations
def cfg(method, p, bits, bands="ll_lh_hl", quant_table="none", importance="pre"):
    return {"method": method, "p": p, "strategy": bits,
            "bands": bands if method == "dwt" else "",
            "quant_table": quant_table, "importance": importance}


def key(c):
    return (c["method"], c["p"], c["strategy"], c["bands"], c["quant_table"], c["importance"])


def zoo_grid(quick=False):
    """(table, config) pairs for a zoo model; duplicates are run once."""
    ps = [32, 64] if quick else [16, 32, 64]
    ss = [SEED_DCT_BEST, SEED_DWT_BEST] if quick else S_LIST
    out = []
    for p in ps:
        for s in ss:
            out.append(("2.1", cfg("dct", p, s)))
    out += [("2.2", cfg("dct", 32, SEED_DCT_BEST)),
            ("2.2", cfg("dct", 32, SEED_DCT_BEST, quant_table="jpeg")),
            ("2.2", cfg("dct", 32, SEED_DCT_BEST, importance="post")),
            ("2.2", cfg("dwt", 32, SEED_DWT_BEST, bands="all")),
            ("2.2", cfg("dwt", 32, SEED_DWT_BEST, bands="ll_lh_hl")),
            ("2.2", cfg("dwt", 32, SEED_DWT_BEST, bands="ll_only"))]
    for p in ps:
        for s in ss:
            out.append(("2.3", cfg("dwt", p, s, bands="ll_lh_hl")))
    return out


def example_grid(quick=False):
    out = []
    for p in ([32, 64] if quick else [8, 16, 32, 64]):
        for s in (S_LIST[:1] if quick else S_LIST):
            out.append(("ex", cfg("dct", p, s)))
    out += [("ex", cfg("dct", 32, SEED_DCT_BEST, quant_table="jpeg")),
            ("ex", cfg("dct", 32, SEED_DCT_BEST, importance="post"))]
    for p in ([32, 64] if quick else [16, 32, 64]):
        for s in (S_LIST[:1] if quick else S_LIST):
            for b in ["all", "ll_lh_hl", "ll_only"]:
                out.append(("ex", cfg("dwt", p, s, bands=b)))
    return out


def options_text(c):
    o = []
    if c["method"] == "dwt":
        o.append(f"bands={c['bands']}")
    if c["quant_table"] != "none":
        o.append(f"quant-table={c['quant_table']}")
    if c["importance"] != "pre":
        o.append(f"importance={c['importance']}")
    if c.get("range", "minmax") != "minmax":
        o.append(f"range={c['range']}")
    return " ".join(o) or "-"


def cli_args(c):
    if "args" in c:  # a configuration given as its command-line options (eval/rd_results.py)
        return list(c["args"])
    a = ["--method", c["method"], "--patch", str(c["p"]), "--bits", c["strategy"]]
    if c["method"] == "dwt":
        a += ["--bands", c["bands"]]
    if c["quant_table"] != "none":
        a += ["--quant-table", c["quant_table"]]
    if c["importance"] != "pre":
        a += ["--importance", c["importance"]]
    if c.get("range", "minmax") != "minmax":
        a += ["--range", c["range"]]
    return a


# --------------------------------------------------------------------- the pairs
def pairs(models_wanted):
    """name -> dict(kind, base, finetuned, info)."""
    out = {}
    for name in models_wanted:
        if name == "example":
            info_p = os.path.join(ROOT, "examples", "example_info.json")
            out[name] = {"kind": "tiny", "base": os.path.join(ROOT, "examples", "base.safetensors"),
                         "finetuned": os.path.join(ROOT, "examples", "finetuned.safetensors"),
                         "info": json.load(open(info_p)) if os.path.exists(info_p) else {}}
            continue
        d = os.path.join(ROOT, "zoo", name)
        info_p = os.path.join(d, "info.json")
        if not os.path.exists(info_p):
            print(f"[results] {name}: not in zoo/ (run `make zoo`), skipped", flush=True)
            continue
        info = json.load(open(info_p))
        b = os.path.join(d, os.path.basename(os.path.normpath(info["base"])))
        f = os.path.join(d, os.path.basename(os.path.normpath(info["finetuned"])))
        out[name] = {"kind": info["kind"], "base": b, "finetuned": f, "info": info}
    return out


# ---------------------------------------------------------------------- one run
def rel_error_measured(base_t, ft_t, rebuilt_t):
    num = den = 0.0
    for n, f in ft_t.items():
        d = f.astype(np.float64) - base_t[n]
        r = rebuilt_t[n].astype(np.float64) - f
        num += float((r * r).sum())
        den += float((d * d).sum())
    return (num / den) ** 0.5 if den > 0 else 0.0


def run_cli(cmd, tries=3):
    """Run the CLI; retry transient failures (seen: 'Resource temporarily unavailable'
    while the machine was overloaded)."""
    for i in range(tries):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode == 0 or i == tries - 1 or "temporarily unavailable" not in r.stderr:
            return r
        print(f"[results] retrying after rc={r.returncode}: {(r.stderr or r.stdout).strip()[-200:]}",
              flush=True)
        time.sleep(10)
    return r


def run_one(cli, pair, c, work, threads, tensors, ref, ft_units, keep_units=False):
    kind, base, ft = pair["kind"], pair["base"], pair["finetuned"]
    dcx = os.path.join(work, "out.dcx")
    rep = os.path.join(work, "report.json")
    rebuilt = os.path.join(work, "rebuilt" if os.path.isdir(ft) else "rebuilt.safetensors")
    if os.path.isdir(rebuilt):
        shutil.rmtree(rebuilt)
    cmd = [cli, "compress", base, ft, "-o", dcx] + cli_args(c) + \
        ["-T", str(threads), "--report", rep, "-f", "-q"]
    shown = " ".join(shlex.quote(x) for x in
                     ["deltacodec", "compress", os.path.relpath(base, ROOT), os.path.relpath(ft, ROOT),
                      "-o", "out.dcx"] + cli_args(c))
    row = {"method": c["method"], "p": c["p"], "strategy": c["strategy"], "bands": c["bands"],
           "quant_table": c["quant_table"], "importance": c["importance"],
           "options": options_text(c), "command": shown, "error": ""}
    t0 = time.time()
    r = run_cli(cmd)
    row["compress_s"] = round(time.time() - t0, 2)
    if r.returncode != 0:
        row["error"] = f"compress rc={r.returncode}: {(r.stderr or r.stdout).strip()[-300:]}"
        return row
    t0 = time.time()
    r = run_cli([cli, "decompress", base, dcx, "-o", rebuilt, "-f"])
    row["decompress_s"] = round(time.time() - t0, 2)
    if r.returncode != 0:
        row["error"] = f"decompress rc={r.returncode}: {(r.stderr or r.stdout).strip()[-300:]}"
        return row
    s = json.load(open(rep)).get("summary", {})
    row["dcx_bytes"] = os.path.getsize(dcx)
    row["ratio"] = s.get("ratio")
    row["ratio_file"] = st.checkpoint_bytes(ft) / row["dcx_bytes"]
    row["bits_per_param"] = s.get("bits_per_param")
    row["bits_per_param_all"] = s.get("bits_per_param_all")
    row["rel_error"] = s.get("rel_error")
    rt = st.load(rebuilt)
    row["rel_error_measured"] = rel_error_measured(tensors[0], tensors[1], rt)
    m = ev.evaluate(kind, rt, units=True)
    row["metric"], row["value"], row["value_ci95"] = m["metric"], m["value"], m["ci95"]
    pb = ev.paired_bootstrap(m["units"], ft_units)
    row["change"], row["change_ci95"], row["significant"] = pb["diff"], pb["ci95"], pb["significant"]
    gain = ref["ft"] - ref["base"]
    row["gain_kept"] = (m["value"] - ref["base"]) / gain if gain else None
    if keep_units:  # the per-example outputs, for paired comparisons between two rebuilds
        row["units"] = m["units"]
    return row


def reference(pair):
    """The base and fine-tune metrics with their intervals, and the fine-tune's per-example
    outputs (what each rebuilt checkpoint is paired with)."""
    b = ev.evaluate(pair["kind"], pair["base"])
    f = ev.evaluate(pair["kind"], pair["finetuned"], units=True)
    return {"ft": f["value"], "base": b["value"], "metric": f["metric"],
            "higher": f["higher_is_better"], "ft_ci95": f["ci95"], "base_ci95": b["ci95"],
            "n": f["n"], "n_units": f["n_units"]}, f["units"]


# -------------------------------------------------------------------- formatting
def fmt_metric(v, metric):
    if v is None or v == "":
        return "—"
    return f"{100 * v:.2f}%" if metric == "accuracy" else f"{v:.4f}"


def fmt_change(v, metric, significant=None):
    if v is None or v == "":
        return "—"
    mark = "*" if significant else ""
    return (f"{100 * v:+.2f} pt" if metric == "accuracy" else f"{v:+.4f}") + mark


def fmt_ci(ci, metric):
    """A 95% interval as [lo, hi] in the metric's units (— when not measured)."""
    if not ci:
        return "—"
    if metric == "accuracy":
        return f"[{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]"
    return f"[{ci[0]:.4f}, {ci[1]:.4f}]"


def f2(v, d=2, suffix=""):
    return "—" if v is None or v == "" else f"{v:.{d}f}{suffix}"


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(out)


def row_cells(r, with_cmd=False):
    if r.get("error"):
        cells = [r["method"].upper(), r["p"], STRATEGIES.get(r["strategy"], r["strategy"]),
                 r["options"], "failed", "", "", "", r["error"][:120].replace("|", "/"), ""]
    else:
        cells = [r["method"].upper(), r["p"], f"`{r['strategy']}`", r["options"],
                 f2(r["ratio"], 2, "×"), f2(r["ratio_file"], 2, "×"), f2(r["bits_per_param"], 3),
                 f2(r["rel_error"], 3), fmt_metric(r["value"], r["metric"]),
                 fmt_change(r["change"], r["metric"], r.get("significant"))]
    if with_cmd:
        cells.append(f"`{r['command']}`")
    return cells


HDR = ["method", "p", "bits", "options", "ratio", "file ratio", "bits/param", "rel. error",
       "metric", "vs fine-tune"]


def is_ok(ref, r, tol):
    """Within tolerance of the fine-tune: accuracy drop <= tol points / bpb rise <= tol*ft."""
    if r.get("error") or r.get("value") is None:
        return False
    if ref["metric"] == "accuracy":
        return r["change"] >= -tol / 100.0
    return r["change"] <= tol / 100.0 * ref["ft"]


def best(ref, rows, method, tol=1.0):
    cand = [r for r in rows if r["method"] == method and not r.get("error")
            and r["quant_table"] == "none" and r["importance"] == "pre"
            and (method == "dct" or r["bands"] == "ll_lh_hl")]
    ok = [r for r in cand if is_ok(ref, r, tol)]
    if ok:
        return max(ok, key=lambda r: r["ratio"]), True
    if not cand:
        return None, False
    sign = 1 if ref["higher"] else -1
    return max(cand, key=lambda r: sign * r["value"]), False


def sort_key(r):
    return (r["method"], r["quant_table"] != "none", r["importance"] != "pre", int(r["p"]),
            S_LIST.index(r["strategy"]) if r["strategy"] in S_LIST else 9,
            ["all", "ll_lh_hl", "ll_only", ""].index(r["bands"]) if r["bands"] in
            ("all", "ll_lh_hl", "ll_only", "") else 9)


def find(rows, **kw):
    for r in rows:
        if all((v in r.get("tables", [r.get("table")])) if k == "table" else r.get(k) == v
               for k, v in kw.items()):
            return r
    return None


# ------------------------------------------------------------------------- plots
def _plot_one(ax, name, res):
    from matplotlib.ticker import FormatStrFormatter
    ref, rows = res["ref"], res["rows"]
    scale = 100.0 if ref["metric"] == "accuracy" else 1.0
    styles = {("dct", "none", "pre"): ("o", "DCT"), ("dct", "jpeg", "pre"): ("x", "DCT + JPEG table"),
              ("dct", "none", "post"): ("+", "DCT + post importance")}
    groups = {}
    for r in rows:
        if r.get("error") or r.get("value") is None:
            continue
        if r["method"] == "dwt":
            g = (f"DWT {r['bands']}", {"all": "s", "ll_lh_hl": "^", "ll_only": "v"}[r["bands"]])
        else:
            mk, lab = styles[(r["method"], r["quant_table"], r["importance"])]
            g = (lab, mk)
        groups.setdefault(g, []).append((r["ratio"], r["value"] * scale))
    for (lab, mk), pts in sorted(groups.items()):
        xs, ys = zip(*pts)
        ax.scatter(xs, ys, marker=mk, label=lab, alpha=0.8)
    ax.axhline(ref["ft"] * scale, color="g", ls="--", lw=1, label="fine-tune")
    ax.axhline(ref["base"] * scale, color="r", ls=":", lw=1, label="base")
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g×"))
    ax.set_xlabel("real compression ratio (delta bytes / .dcx bytes)")
    ax.set_ylabel("accuracy (%)" if ref["metric"] == "accuracy" else "bits per byte (lower is better)")
    ax.set_title(MODEL_LABEL.get(name, name))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def plot(results, outdir):
    """docs/results/metric_vs_ratio.png (all models) and <model>_metric_vs_ratio.png each."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(results)
    cols = 2 if len(names) > 1 else 1
    nrows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(6.5 * cols, 4.5 * nrows), squeeze=False)
    for i, name in enumerate(names):
        _plot_one(axes[i // cols][i % cols], name, results[name])
    for j in range(len(names), nrows * cols):
        axes[j // cols][j % cols].axis("off")
    fig.tight_layout()
    p = os.path.join(outdir, "metric_vs_ratio.png")
    fig.savefig(p, dpi=100)
    plt.close(fig)
    for name in names:
        f1, ax = plt.subplots(figsize=(6.5, 4.5))
        _plot_one(ax, name, results[name])
        f1.tight_layout()
        f1.savefig(os.path.join(outdir, f"{name}_metric_vs_ratio.png"), dpi=100)
        plt.close(f1)
    return p


# ------------------------------------------------------------------------ report
def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in FIELDS})


def facts(results):
    """Generated statements comparing our numbers with the seed's claims."""
    out = []
    for name, res in results.items():
        ref, rows = res["ref"], res["rows"]
        m = ref["metric"]
        lab = MODEL_LABEL.get(name, name)
        base = find(rows, method="dct", p=32, strategy=SEED_DCT_BEST,
                    quant_table="none", importance="pre")
        jpeg = find(rows, method="dct", p=32, strategy=SEED_DCT_BEST, quant_table="jpeg")
        post = find(rows, method="dct", p=32, strategy=SEED_DCT_BEST, importance="post")
        if base and jpeg and not base.get("error") and not jpeg.get("error"):
            out.append(f"- {lab}: JPEG table vs plain DCT (32px, triple low): metric "
                       f"{fmt_metric(jpeg['value'], m)} vs {fmt_metric(base['value'], m)}, ratio "
                       f"{jpeg['ratio']:.2f}× vs {base['ratio']:.2f}×, rel. error "
                       f"{jpeg['rel_error']:.3f} vs {base['rel_error']:.3f}.")
        if base and post and not base.get("error") and not post.get("error"):
            out.append(f"- {lab}: post-transform importance vs pre: metric "
                       f"{fmt_metric(post['value'], m)} vs {fmt_metric(base['value'], m)}, "
                       f"rel. error {post['rel_error']:.3f} vs {base['rel_error']:.3f}.")
        bands = [find(rows, method="dwt", p=32, strategy=SEED_DWT_BEST, bands=b)
                 for b in ["all", "ll_lh_hl", "ll_only"]]
        if all(b and not b.get("error") for b in bands):
            out.append(f"- {lab}: DWT 32px 2:0.5,0:0.5 bands all / ll_lh_hl / ll_only: ratio "
                       + " / ".join(f"{b['ratio']:.2f}×" for b in bands) + ", metric "
                       + " / ".join(fmt_metric(b["value"], m) for b in bands) + ".")
        # patch size trend for DWT 50/50 2-bit
        tr = [find(rows, method="dwt", bands="ll_lh_hl", p=p, strategy=SEED_DWT_BEST)
              for p in (16, 32, 64)]
        if all(t and not t.get("error") for t in tr):
            out.append(f"- {lab}: DWT ll_lh_hl 2:0.5,0:0.5 at p = 16/32/64: ratio "
                       + " / ".join(f"{t['ratio']:.2f}×" for t in tr) + ", metric "
                       + " / ".join(fmt_metric(t["value"], m) for t in tr) + ".")
        d, dok = best(ref, rows, "dct")
        w, wok = best(ref, rows, "dwt")
        if d and w:
            how = {(True, True): "highest ratio within 1% of the fine-tune",
                   (False, False): "nothing within 1% of the fine-tune; best metric"}.get(
                (dok, wok), f"DCT {'within 1%' if dok else 'best metric'}, DWT "
                            f"{'within 1%' if wok else 'best metric'}")
            out.append(f"- {lab} ({how}): best DCT {d['p']}px `{d['strategy']}` {d['ratio']:.2f}× "
                       f"({fmt_metric(d['value'], m)}), best DWT {w['p']}px `{w['strategy']}` "
                       f"{w['ratio']:.2f}× ({fmt_metric(w['value'], m)}).")
    return out


def write_results(results, outdir, args, cli_version, elapsed):
    resdir = os.path.join(outdir, "results")
    os.makedirs(resdir, exist_ok=True)
    all_rows = []
    for name, res in results.items():
        for r in res["rows"]:
            all_rows.append(dict(r, model=name))
        write_csv(os.path.join(resdir, f"{name}.csv"), [dict(r, model=name) for r in res["rows"]])
    write_csv(os.path.join(resdir, "all.csv"), all_rows)
    png = plot(results, resdir) if results else None

    L = []
    L.append("# Results: the seed's tables redone on real fine-tunes, with real ratios\n")
    L.append(f"_Generated by `make results` (`eval/run_experiments.py`) on "
             f"{datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC')}; "
             f"{platform.machine()}, {os.cpu_count()} CPUs; deltacodec: {cli_version}. "
             f"Do not edit by hand except `docs/results/discussion.md`, "
             f"which is pasted in below._\n")
    runs = []
    for name, res in results.items():
        m = res.get("meta", {})
        runs.append(f"{name}: {len(res['rows'])} runs, grid "
                    f"{'QUICK (reduced)' if m.get('quick') else 'full'}"
                    f"{', INTERRUPTED after ' + m['partial'] if m.get('partial') else ''}, "
                    f"{m.get('date', '?')}, "
                    f"{m.get('minutes', '?')} min")
    L.append("Runs: " + "; ".join(runs) + ".\n")
    rc = os.path.join(resdir, "rate_control.md")
    if os.path.exists(rc):  # eval/rd_results.py: rate control and each method (issue 10)
        L.append("## Rate control and each method against real size (`docs/results/rate_control.md`)\n")
        body = open(rc).read().split("\n", 1)[1]  # without its title
        L.append(body.replace("\n## ", "\n### ").strip() + "\n")
        L.append("## The seed's configurations (below: `eval/run_experiments.py`'s grid; the "
                 "run dates above say which zoo they were measured on)\n")
    L.append("How to read the columns: **ratio** is the CLI's real ratio (`summary.ratio` of "
             "`--report`: bytes of the fine-tune's delta in its own dtype over bytes of the .dcx "
             "file, everything counted); **file ratio** is bytes of the fine-tune checkpoint's "
             ".safetensors files over .dcx bytes (measured by the harness); **bits/param** is over "
             "the compressed tensors, all their bytes counted (`summary.bits_per_param`); "
             "**rel. error** is ‖rebuilt − fine-tune‖ / ‖fine-tune − base‖ over the compressed "
             "tensors as the CLI reports it (`summary.rel_error`; the harness also measures it "
             "from the rebuilt file over all tensors: `rel_error_measured` in the CSVs). **metric** is measured on the full test set of the task "
             "(`eval/evaluate.py`), **vs fine-tune** is the change against the uncompressed "
             "fine-tune on the same test examples; `*` marks a change that a paired bootstrap "
             "(1,000 resamples of the test examples, seeded) finds significant: its 95% interval "
             "excludes 0 (interval bounds in the CSVs: `change_ci95`). Strategies are the seed's four: `2:0.5,0:0.5` (50/50, 2-bit), "
             "`4:0.5,0:0.5` (50/50, 4-bit), `2:0.34,1:0.33,0:0.33` (triple, lower fidelity), "
             "`4:0.34,2:0.33,0:0.33` (triple, higher fidelity). The seed's ratios were "
             "fp32-bytes / int8-bytes (≈4× by construction); ours are bytes on disk.\n")

    L.append("## The pairs and what fine-tuning gained\n")
    rows = []
    for name, res in results.items():
        ref, info = res["ref"], res["pair"]["info"]
        cfgd = info.get("config", {})
        gain = ref["ft"] - ref["base"]
        rows.append([MODEL_LABEL.get(name, name),
                     f"{cfgd.get('model_type', '?')} h{cfgd.get('hidden_size', '?')} "
                     f"L{cfgd.get('num_hidden_layers', '?')} ff{cfgd.get('intermediate_size', '?')}",
                     f"{info.get('params', 0) / 1e6:.2f} M", info.get("dtype", "F16" if name == "example" else "?"),
                     ref["metric"] + f" (n={ref.get('n', info.get('metric_n', '?'))})",
                     fmt_metric(ref["base"], ref["metric"]) + " " + fmt_ci(ref.get("base_ci95"), ref["metric"]),
                     fmt_metric(ref["ft"], ref["metric"]) + " " + fmt_ci(ref.get("ft_ci95"), ref["metric"]),
                     fmt_change(gain, ref["metric"]),
                     f"{info.get('train_seconds_base', 0) + info.get('train_seconds_finetune', 0):.0f} s"])
    L.append(md_table(["pair", "architecture", "params", "dtype", "metric (fine-tune task)",
                       "base [95% CI]", "fine-tune [95% CI]", "gain", "train time (wall, shared 2-core machine)"], rows))
    L.append("\nbits per byte: lower is better. Details of data and training: `docs/EVAL.md`.\n")

    zoo_names = [n for n in results if n != "example"]
    for title, table, intro in [
        ("Table 2.1 — DCT baseline: p × strategy", "2.1",
         "The seed picked 32px with the triple lower-fidelity strategy as the best DCT setting."),
        ("Table 2.2 — first innovations (p = 32)", "2.2",
         "DCT rows use `2:0.34,1:0.33,0:0.33` (the seed's DCT optimum), DWT rows `2:0.5,0:0.5`."),
        ("Table 2.3 — DWT (ll_lh_hl): p × strategy", "2.3", "")]:
        L.append(f"## {title}\n")
        if intro:
            L.append(intro + "\n")
        for name in zoo_names:
            res = results[name]
            rs = sorted((r for r in res["rows"] if table in r["tables"]), key=sort_key)
            if not rs:
                continue
            ref = res["ref"]
            L.append(f"**{MODEL_LABEL.get(name, name)}** — fine-tune {fmt_metric(ref['ft'], ref['metric'])}, "
                     f"base {fmt_metric(ref['base'], ref['metric'])}\n")
            L.append(md_table(HDR, [row_cells(r) for r in rs]) + "\n")

    L.append("## Table 2.4 — final comparison, DCT vs DWT\n")
    L.append("Two choices per method: the seed's own picks (DCT 32px triple lower fidelity; DWT "
             "64px 50/50 2-bit, ll_lh_hl) and our rule: the highest real ratio whose metric stays "
             "within 1 accuracy point (or within 1% bits per byte) of the fine-tune, over the "
             "plain DCT grid and the DWT ll_lh_hl grid; if nothing qualifies, the best metric.\n")
    rows = []
    for name in zoo_names:
        res = results[name]
        ref, rs = res["ref"], res["rows"]
        picks = [("seed pick", find(rs, method="dct", p=32, strategy=SEED_DCT_BEST, quant_table="none",
                                    importance="pre")),
                 ("seed pick", find(rs, method="dwt", p=64, strategy=SEED_DWT_BEST, bands="ll_lh_hl"))]
        for meth in ("dct", "dwt"):
            b, ok = best(ref, rs, meth)
            picks.append(("best within 1%" if ok else "best metric (none within 1%)", b))
        for how, r in picks:
            if r is None:
                continue
            rows.append([MODEL_LABEL.get(name, name), how] + row_cells(r))
    L.append(md_table(["model", "choice"] + HDR, rows) + "\n")

    if png:
        L.append("## Task metric against real ratio\n")
        L.append(f"![metric vs ratio](results/{os.path.basename(png)})\n")

    if "example" in results:
        res = results["example"]
        ref = res["ref"]
        L.append("## Every seed configuration on the example pair (examples/)\n")
        L.append(f"The pair in `examples/` (tiny ViT, fp16; see `docs/EVAL.md`): fine-tune "
                 f"{fmt_metric(ref['ft'], ref['metric'])}, base {fmt_metric(ref['base'], ref['metric'])} "
                 f"on the 10,000 rotated+inverted Fashion-MNIST test images. Commands are run from the "
                 f"repository root; the harness adds `-T {args.threads} --report FILE -f -q`, then runs "
                 f"`deltacodec decompress examples/base.safetensors out.dcx -o rebuilt.safetensors` and "
                 f"`eval/evaluate.py tiny rebuilt.safetensors`.\n")
        L.append(md_table(HDR + ["command"], [row_cells(r, True) for r in
                                              sorted(res["rows"], key=sort_key)]) + "\n")

    L.append("## Generated facts (compare with the seed's claims)\n")
    L.append("\n".join(facts(results)) or "_(no zoo results)_")
    L.append("")
    disc = os.path.join(resdir, "discussion.md")
    L.append("## Discussion (hand-written, `docs/results/discussion.md`)\n")
    if os.path.exists(disc):
        L.append(open(disc).read().strip() + "\n")
    else:
        L.append("_(not written yet)_\n")
    L.append("## Files\n")
    L.append("- `docs/results/<model>.csv`, `docs/results/all.csv`: every run, every column "
             "(including compress/decompress seconds, .dcx bytes, measured relative error).")
    L.append("- `docs/results/metric_vs_ratio.png`: the plot above; "
             "`docs/results/<model>_metric_vs_ratio.png`: one per model.")
    L.append("- Regenerate: `make zoo && make results` (or `/usr/bin/python3 eval/run_experiments.py "
             "--cli build/deltacodec [--models example,vit] [--quick]`).\n")
    with open(os.path.join(outdir, "RESULTS.md"), "w") as f:
        f.write("\n".join(L))


# -------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", default=os.path.join(ROOT, "build", "deltacodec"))
    ap.add_argument("--models", default="example," + ",".join(MODEL_ORDER[:-1]))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs"))
    ap.add_argument("--work", default=None)
    ap.add_argument("--fresh", action="store_true",
                    help="do not reuse cached runs of models not run this time")
    ap.add_argument("--render-only", action="store_true",
                    help="run nothing; rebuild RESULTS.md from docs/results/*.runs.json")
    ap.add_argument("--only-run", action="store_true",
                    help="write RESULTS.md from the models run this time only")
    a = ap.parse_args(argv)
    cli = os.path.abspath(a.cli)
    if not os.access(cli, os.X_OK) and not a.render_only:
        sys.exit(f"run_experiments: {cli} is not an executable (build it: make build)")
    cli_version = "unknown"
    if os.access(cli, os.X_OK):
        v = subprocess.run([cli, "--version"], capture_output=True, text=True)
        if v.returncode == 0:
            cli_version = (v.stdout or v.stderr).strip().splitlines()[0]
    work = a.work or tempfile.mkdtemp(prefix="dcx-results-")
    os.makedirs(work, exist_ok=True)
    if not a.render_only:
        # A private copy, so a rebuild of build/ during a long run cannot change the binary.
        private = os.path.join(work, "deltacodec")
        shutil.copy2(cli, private)
        cli = private
    t_start = time.time()
    resdir = os.path.join(a.out, "results")
    os.makedirs(resdir, exist_ok=True)
    wanted = [] if a.render_only else [m.strip() for m in a.models.split(",") if m.strip()]
    results = {}
    for name, pair in pairs(wanted).items():
        ref, ft_units = reference(pair)
        grid = example_grid(a.quick) if name == "example" else zoo_grid(a.quick)
        uniq = {}
        for table, c in grid:
            uniq.setdefault(key(c), (c, []))[1].append(table)
        if not a.quick:  # run the quick grid's configurations first: an interrupted run is still useful
            qk = {key(c) for _, c in (example_grid(True) if name == "example" else zoo_grid(True))}
            uniq = dict(sorted(uniq.items(), key=lambda kv: kv[0] not in qk))
        base_t, ft_t = st.load(pair["base"]), st.load(pair["finetuned"])
        rows = []
        print(f"[results] {name}: {len(uniq)} runs", flush=True)
        for i, (c, tables) in enumerate(uniq.values()):
            t0 = time.time()
            r = run_one(cli, pair, c, work, a.threads, (base_t, ft_t), ref, ft_units)
            r["tables"] = tables
            r["table"] = tables[0]
            r["model"] = name
            rows.append(r)
            msg = r["error"] or (f"ratio {r['ratio']:.2f}x bpp {r['bits_per_param']:.3f} "
                                 f"err {r['rel_error']:.3f} {r['metric']} {r['value']:.4f}")
            print(f"[results] {name} {i + 1}/{len(uniq)} {r['command']}: {msg} "
                  f"({time.time() - t0:.1f}s)", flush=True)
            if i + 1 < len(uniq):  # partial cache, so an interrupted run still leaves its rows
                with open(os.path.join(resdir, f"{name}.runs.json"), "w") as f:
                    json.dump({"pair": pair, "ref": ref, "rows": rows,
                               "meta": {"quick": a.quick, "cli": cli_version,
                                        "partial": f"{i + 1} of {len(uniq)}",
                                        "date": datetime.datetime.utcnow().strftime(
                                            "%Y-%m-%d %H:%M UTC")}}, f, indent=1, default=str)
        results[name] = {"pair": pair, "ref": ref, "rows": rows,
                         "meta": {"quick": a.quick, "cli": cli_version,
                                  "date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"),
                                  "minutes": round((time.time() - t_start) / 60, 1)}}
        with open(os.path.join(resdir, f"{name}.runs.json"), "w") as f:
            json.dump(results[name], f, indent=1, default=str)
    if not a.only_run:
        # Models not run this time: reuse their cached runs (docs/results/<model>.runs.json).
        for name in MODEL_ORDER:
            p = os.path.join(resdir, f"{name}.runs.json")
            if name not in results and os.path.exists(p) and not a.fresh:
                results[name] = json.load(open(p))
                print(f"[results] {name}: reusing cached runs from {p}", flush=True)
        results = {k: results[k] for k in MODEL_ORDER if k in results}
    write_results(results, a.out, a, cli_version, time.time() - t_start)
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    print(f"[results] wrote {os.path.join(a.out, 'RESULTS.md')} in {(time.time() - t_start) / 60:.1f} min")


if __name__ == "__main__":
    main()
