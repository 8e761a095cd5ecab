#!/usr/bin/env bash
# make demo: compress the bundled example pair to 1 bit per parameter (rate control), rebuild it, and say
# what the numbers mean. Needs the CLI and /usr/bin/python3; the accuracy figures also need NumPy and
# the Fashion-MNIST data set (python3-numpy, dataset-fashion-mnist: `make demo` installs them), no
# PyTorch. Without them (or with DEMO_ACCURACY=0) it shows the accuracies recorded in
# examples/example_info.json instead.
# usage: examples/demo.sh [CLI]   (default: build/deltacodec; PY=python3 to use, default /usr/bin/python3)
set -euo pipefail
CLI=$(realpath "${1:-build/deltacodec}")
cd "$(dirname "$0")/.."
PY=${PY:-/usr/bin/python3}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
BASE=examples/base.safetensors
FT=examples/finetuned.safetensors
# Rate control (README, "Rate control"): a file of 1 bit per parameter, every method measured on
# every large tensor and the best per tensor kept. On this pair it is both smaller and more accurate
# than the seed's best setting (docs/RESULTS.md, "Rate control with every method").
BPP=1

cat <<EOF
The example pair: a tiny vision transformer (ViT) trained on Fashion-MNIST images
  base       $BASE
and the same model fine-tuned on those images rotated and colour-inverted
  fine-tune  $FT
deltacodec stores the fine-tune as its difference from the base (the delta), compressed, in a
.dcx file; whoever has the base rebuilds the fine-tune from it.

== 1. compress to $BPP bit per parameter of the whole file (--bpp $BPP): compress measures every
   method on every large tensor and keeps, per tensor, the one that loses least at that size
EOF
"$CLI" compress "$BASE" "$FT" -o "$OUT/example.dcx" --bpp "$BPP" --report "$OUT/report.json"

echo
echo "What these numbers mean:"
"$PY" - "$OUT/report.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
kib = lambda n: f"{n / 1024:.0f} KiB"
print(f"""- ratio {s['ratio']:.1f}x: the delta, at the fine-tune's own precision, is {kib(s['delta_bytes'])}; the
  .dcx file holding it is {kib(s['dcx_bytes'])} on disk, every byte counted.
- bits/param {s['bits_per_param']:.2f}: each of the {s['params_compressed']:,} weights in the {s['tensors_compressed']} compressed (large 2-D)
  tensors costs {s['bits_per_param']:.2f} bits in the file, against 16 bits for an fp16 weight. The other
  {s['tensors_lossless']} tensors (norms, biases, embeddings, the classifier) are kept exactly, bit for bit.
- rel. error {s['rel_error']:.2f}: the distance between the rebuilt delta and the true one, over the
  compressed tensors, relative to the size of the delta: 0 is exact, 1 is as far off as leaving
  the delta out altogether.
- methods: {', '.join(f'{m} {n}' for m, n in s.get('methods', {}).items())} (tensors each): lowrank stores a truncated
  SVD, ecsq/patch/bitdelta quantize the delta, exact_delta is a bit-exact delta, whole the fine-tune's
  own bytes (a tensor that is new, or whose shape or dtype changed).""")
if s["rel_error"] > 1:
    print("""  Above 1 here: the 1-bit patches overshoot the smallest changes. That does not make the
  rebuilt model useless: task accuracy (below) is what counts, and this error is a poor guide to
  it (docs/RESULTS.md, "Beyond the seed").""")
EOF

echo
echo "== 2. rebuild the fine-tune from the base and the .dcx"
"$CLI" decompress "$BASE" "$OUT/example.dcx" -o "$OUT/rebuilt.safetensors"
echo
printf "  %8d bytes  the fine-tune (%s)\n" "$(stat -c %s "$FT")" "$FT"
printf "  %8d bytes  the .dcx: all that needs keeping besides the base\n" "$(stat -c %s "$OUT/example.dcx")"

echo
if [ "${DEMO_ACCURACY:-1}" = 1 ] && "$PY" -c "import numpy" 2>/dev/null && [ -d /usr/share/datasets/fashion-mnist ]; then
  echo "== 3. task accuracy on all 10,000 test images of the fine-tune's task (NumPy)"
  mapfile -t ACC < <("$PY" examples/accuracy.py "$BASE" "$FT" "$OUT/rebuilt.safetensors" | awk '{print $1}')
  SOURCE="measured now by examples/accuracy.py"
else
  echo "== 3. task accuracy (not measured: needs NumPy and /usr/share/datasets/fashion-mnist; \`make demo\` installs them)"
  mapfile -t ACC < <("$PY" -c "import json; i = json.load(open('examples/example_info.json'))
print(f\"{100 * i['metric_base']:.2f}%\"); print(f\"{100 * i['metric_finetuned']:.2f}%\")")
  SOURCE="recorded in examples/example_info.json when \`make zoo\` trained the pair"
  ACC+=("not measured")
fi
cat <<EOF
  base model          ${ACC[0]}  (trained on upright images only; chance is 10%)
  fine-tune           ${ACC[1]}  (what the .dcx stores)
  rebuilt from .dcx   ${ACC[2]}
  ($SOURCE)
EOF
if [[ ${ACC[2]} == *% ]]; then
  "$PY" - "${ACC[@]}" <<'EOF'
import sys
base, ft, rebuilt = (float(a.rstrip("%")) for a in sys.argv[1:4])
print(f"  The rebuilt model keeps {100 * (rebuilt - base) / (ft - base):.0f}% of the accuracy that fine-tuning gained "
      f"({rebuilt - ft:+.2f} points against the fine-tune).")
EOF
fi
echo
echo "Other settings trade size for accuracy: docs/RESULTS.md lists every one on this pair."
