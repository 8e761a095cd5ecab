#!/usr/bin/env bash
# make demo: compress the bundled example pair, rebuild it, and show size and error.
set -euo pipefail
CLI=${1:-build/deltacodec}
cd "$(dirname "$0")/.."
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "== deltacodec compress (defaults: dwt, p=64, ll_lh_hl, 2:0.5,0:0.5)"
"$CLI" compress examples/base.safetensors examples/finetuned.safetensors -o "$OUT/example.dcx"
echo
echo "== deltacodec info"
"$CLI" info "$OUT/example.dcx"
echo
echo "== deltacodec decompress"
"$CLI" decompress examples/base.safetensors "$OUT/example.dcx" -o "$OUT/rebuilt.safetensors"
echo
echo "== sizes on disk"
ls -l examples/finetuned.safetensors "$OUT/example.dcx" | awk '{print "  " $5 " bytes  " $NF}'
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo
  echo "== task accuracy (Fashion-MNIST test set): fine-tune vs rebuilt"
  /usr/bin/python3 eval/evaluate.py tiny examples/finetuned.safetensors | sed 's/^/  fine-tune: /'
  /usr/bin/python3 eval/evaluate.py tiny "$OUT/rebuilt.safetensors" | sed 's/^/  rebuilt:   /'
  echo
  echo "== the triple strategy keeps more accuracy for a little more size (see docs/RESULTS.md)"
  "$CLI" compress examples/base.safetensors examples/finetuned.safetensors -o "$OUT/triple.dcx" \
    --bits 2:0.34,1:0.33,0:0.33 | grep -E "file size|ratio"
  "$CLI" decompress examples/base.safetensors "$OUT/triple.dcx" -o "$OUT/triple.safetensors" -q
  /usr/bin/python3 eval/evaluate.py tiny "$OUT/triple.safetensors" | sed 's/^/  rebuilt:   /'
fi
