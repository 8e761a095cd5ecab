#!/usr/bin/env bash
# Where the time goes, end to end: perf profiles of compress and decompress on
# the pair run_bench.sh generated (run it first).
#   bench/profile.sh [BUILD_DIR]   env: LAYERS=4 BENCH_DIR=bench/out SEED=1 TOP=20
# Prints, per configuration and command, the hottest symbols (self time, user
# and kernel). Needs `perf` (Debian: linux-perf); installs nothing.
set -euo pipefail
BUILD=${1:-build}
LAYERS=${LAYERS:-4}
BENCH_DIR=${BENCH_DIR:-bench/out}
SEED=${SEED:-1}
TOP=${TOP:-20}
PAIR=$BENCH_DIR/pair-L$LAYERS-s$SEED
CLI=$BUILD/deltacodec
command -v perf >/dev/null || { echo "profile: perf not found (Debian package linux-perf)" >&2; exit 1; }
[ -f "$PAIR/.complete" ] || { echo "profile: no pair at $PAIR (run bench/run_bench.sh first)" >&2; exit 1; }
W=$BENCH_DIR/profile-L$LAYERS
mkdir -p "$W"
report() {
  echo "-- by library --"
  { perf report -i "$1" --stdio --no-children --sort dso -g none --percent-limit 0.5 2>/dev/null |
    grep -E '^ +[0-9]' | sed -E 's/ +$//; s/  +/  /g'; } || true
  echo "-- by symbol (top $TOP) --"
  { perf report -i "$1" --stdio --no-children --sort dso,symbol -g none --percent-limit 0.3 2>/dev/null |
    grep -E '^ +[0-9]' | sed -E 's/ +$//; s/  +/  /g; s/  -  -$//; s/std::_Function_handler<void \(unsigned long\), //' | cut -c1-150 |
    awk -v n="$TOP" 'NR <= n'; } || true
}
for cfg in "dwt|" "dct|--method dct --patch 32"; do
  tag=${cfg%%|*}; args=${cfg#*|}
  # shellcheck disable=SC2086
  perf record -q -g -o "$W/$tag.compress.perf" -- "$CLI" compress "$PAIR/base" "$PAIR/finetuned" -o "$W/$tag.dcx" $args -q -f
  echo "== $tag: compress (self time) =="
  report "$W/$tag.compress.perf"
  perf record -q -g -o "$W/$tag.decompress.perf" -- "$CLI" decompress "$PAIR/base" "$W/$tag.dcx" -o "$W/$tag.rebuilt" -q -f
  echo "== $tag: decompress (self time) =="
  report "$W/$tag.decompress.perf"
  rm -rf "$W/$tag.rebuilt" "$W/$tag.dcx"
done
