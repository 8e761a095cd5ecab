#!/usr/bin/env bash
# deltacodec end-to-end benchmark (`make bench`): run_bench.sh [BUILD_DIR]
#
# 1. Generates (once; cached) a synthetic Llama-2-7B-shaped fp16 pair with
#    deltacodec_make_pair: $BENCH_DIR/pair-L$LAYERS-s$SEED/{base,finetuned}.
# 2. Runs the kernel micro-benchmarks (deltacodec_bench_kernels).
# 3. For each configuration (a row per method: the default dwt p=64, dct p=32,
#    ecsq, lowrank, bitdelta, sparse, svdmix, hybrid, and rate control), measures
#    in the same run: `cp -r` of the fine-tuned directory (the yardstick),
#    compress, decompress — wall time, user/sys CPU time and peak RSS of each — then
#    verifies the .dcx (`deltacodec info`) and the rebuild
#    (deltacodec_check_rebuild), and prints a Markdown table.
#
# Environment:
#   LAYERS=2          decoder layers of the pair (32 = the full 7B model)
#   BENCH_DIR=bench/out  where the pair, outputs and results go (gitignored)
#   SEED=1            pair seed
#   THREADS=0         -T for compress/decompress (0 = all cores)
#   KERNELS=1         0 skips the kernel micro-benchmarks
#   KERNEL_FILTER=    --benchmark_filter regex for them (default: all)
#   KEEP=0            1 keeps the .dcx files
#   REPEAT=1          runs of each measured command per configuration
#   CONFIGS="label|args;label|args"  configurations (default: $METHOD_CONFIGS
#                     below, one row per method), e.g. "bitdelta|--method bitdelta"
#   METHODS=all       "all": a row per method of the rate-distortion issue (dwt
#                     default, dct p=32, ecsq, lowrank, bitdelta, sparse, svdmix,
#                     hybrid) and one of rate control ($RC); "seed": the default
#                     and dct p=32 only (the issue-12 pair of rows)
#   RC="--bpp 3"      the rate-control row's options (all lossy methods offered).
#                     Not --bpp 1: the generated pair keeps embed_tokens/lm_head
#                     exactly, 2.18 bit/param on their own, so --bpp 1 is refused
#                     after the whole analysis
#   IO=1              0 skips the I/O-path table (deltacodec_io_paths)
#
# Throughput is MB/s (1e6 bytes) of fine-tuned checkpoint bytes (every file of
# the fine-tuned directory). No warm-up runs; with REPEAT=N each command runs N
# times and the best time is reported (`cp -r` runs before and after each
# compress/decompress pair, so 2N times). The page-cache residency of the
# inputs is measured (fincore) and printed beside each run.
# Writes land in the page cache: the times exclude writeback, which is timed
# separately (`sync` right after the command) and shown as "+sync".
# Installs nothing: everything it needs is built by `make build`.
set -euo pipefail

BUILD=${1:-build}
LAYERS=${LAYERS:-2}
BENCH_DIR=${BENCH_DIR:-bench/out}
SEED=${SEED:-1}
THREADS=${THREADS:-0}
KERNELS=${KERNELS:-1}
KERNEL_FILTER=${KERNEL_FILTER:-}
KEEP=${KEEP:-0}
REPEAT=${REPEAT:-1}
IO=${IO:-1}

CLI=$BUILD/deltacodec
MAKE_PAIR=$BUILD/bench/deltacodec_make_pair
PEAK=$BUILD/bench/deltacodec_peak_rss
KBENCH=$BUILD/bench/deltacodec_bench_kernels
CHECK=$BUILD/bench/deltacodec_check_rebuild
IOPATHS=$BUILD/bench/deltacodec_io_paths
for x in "$CLI" "$MAKE_PAIR" "$PEAK" "$KBENCH" "$CHECK" "$IOPATHS"; do
  [ -x "$x" ] || { echo "run_bench: $x not built (cmake with -DDELTACODEC_BENCH=ON, then build)" >&2; exit 1; }
done

mkdir -p "$BENCH_DIR"
PAIR=$BENCH_DIR/pair-L$LAYERS-s$SEED
BASE=$PAIR/base
FT=$PAIR/finetuned
RUN=$BENCH_DIR/run-L$LAYERS
mkdir -p "$RUN"
RESULTS=$BENCH_DIR/results-L$LAYERS.md

log() { echo "run_bench: $*" >&2; }

# ---- machine -------------------------------------------------------------------
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
mem_gib=$(awk '/MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo)
kernel=$(uname -r)
rev=$(git -C "$(dirname "$0")/.." rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$(dirname "$0")/.." status --porcelain --untracked-files=no -- src include cli 2>/dev/null | wc -l)
[ "$dirty" -gt 0 ] && rev="$rev (+ uncommitted changes in src/include/cli)"
root="$(dirname "$0")/.."
if [ -n "$(find "$root/src" "$root/include" "$root/cli" -newer "$CLI" -type f 2>/dev/null | head -1)" ]; then
  rev="$rev; WARNING: $CLI is older than some source files (not rebuilt)"
fi

# ---- 1. the pair (cached) ------------------------------------------------------
if [ -f "$PAIR/.complete" ]; then
  log "using cached pair $PAIR"
else
  log "generating the $LAYERS-layer pair in $PAIR"
  rm -rf "$PAIR"
  mkdir -p "$PAIR"
  "$PEAK" -o "$RUN/make_pair.time" -- "$MAKE_PAIR" --layers "$LAYERS" --seed "$SEED" --out "$PAIR"
  log "make_pair: $(cat "$RUN/make_pair.time")"
  touch "$PAIR/.complete"
fi
log "sync (flush the pair's writeback before timing anything)"
sync

FT_BYTES=$(find "$FT" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
FT_MB=$(awk -v b="$FT_BYTES" 'BEGIN {printf "%.1f", b/1e6}')

# Percentage of the given files' bytes resident in the page cache.
cached_pct() {
  fincore --bytes --noheadings --raw -o RES,SIZE "$@" 2>/dev/null |
    awk '{r+=$1; s+=$2} END {if (s>0) printf "%.0f%%", 100*r/s; else print "?"}'
}
field() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" "$1"; }   # field FILE KEY
mbps() { awk -v b="$FT_BYTES" -v s="$1" 'BEGIN {printf "%.0f", b/1e6/s}'; }
gib() { awk -v k="$1" 'BEGIN {printf "%.2f", k/1048576}'; }

# ---- 2. kernel micro-benchmarks ------------------------------------------------
if [ "$KERNELS" = 1 ]; then
  log "kernel micro-benchmarks (bench_kernels)"
  kargs=(--benchmark_out="$RUN/kernels.json" --benchmark_out_format=json)
  [ -n "$KERNEL_FILTER" ] && kargs+=(--benchmark_filter="$KERNEL_FILTER")
  "$KBENCH" "${kargs[@]}" | tee "$RUN/kernels.txt"
  if command -v python3 >/dev/null; then
    python3 "$(dirname "$0")/kernels_table.py" "$RUN/kernels.json" > "$RUN/kernels.md"
    log "kernel table (Markdown) in $RUN/kernels.md"
  fi
fi

# ---- 3. end-to-end ---------------------------------------------------------------
if [ -n "${CONFIGS:-}" ]; then
  IFS=';' read -r -a CONFIGS <<< "$CONFIGS"
else
  CONFIGS=("dwt p=64 (default)|" "dct p=32|--method dct --patch 32")
  if [ "${METHODS:-all}" = all ]; then
    for m in ecsq lowrank bitdelta sparse svdmix hybrid; do CONFIGS+=("$m|--method $m"); done
    CONFIGS+=("rate control ${RC:---bpp 3}|${RC:---bpp 3}")
  fi
fi
rows=()
details=()
fail=0

# measure LABEL STEP TIMEFILE CACHE-NOTE -- COMMAND...: one timed run (+ sync),
# its row appended to `details`.
measure() {
  local label=$1 step=$2 tf=$3 cache=$4
  shift 5
  log "[$label] $step (inputs in page cache: $cache)"
  local rc=0
  [ -z "$failed_step" ] || return 0   # an earlier step of this run failed
  "$PEAK" --sync -o "$tf" -- "$@" || rc=$?
  if [ "$rc" -ne 0 ]; then
    log "[$label] $step FAILED (exit status $rc)"
    failed_step=$step
  fi
  details+=("| $label | $step | $(field "$tf" wall_s) | $(field "$tf" user_s) | $(field "$tf" sys_s) | $(field "$tf" sync_s) | $(gib "$(field "$tf" maxrss_kib)") | $cache |")
}
best() { printf '%s\n' "$@" | sort -g | head -1; }
worst() { printf '%s\n' "$@" | sort -g | tail -1; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for cfg in "${CONFIGS[@]}"; do
  label=${cfg%%|*}
  args=${cfg#*|}
  tag=$(echo "$label" | awk '{print $1 $2 $3}' | tr -cd 'A-Za-z0-9.')
  DCX=$RUN/$tag.dcx
  OUT=$RUN/$tag.rebuilt
  CP=$RUN/cp.tmp
  rm -rf "$OUT" "$CP" "$DCX"
  cp_t=(); cps_t=(); c_t=(); d_t=(); c_k=(); d_k=(); c_us=(); d_us=()
  failed_step=
  for rep in $(seq 1 "$REPEAT"); do
    p=$RUN/$tag.r$rep
    measure "$label" "cp -r (before)" "$p.cp.time" "ft $(cached_pct "$FT"/*)" -- cp -r "$FT" "$CP"
    rm -rf "$CP"
    # shellcheck disable=SC2086
    measure "$label" compress "$p.compress.time" "base $(cached_pct "$BASE"/*), ft $(cached_pct "$FT"/*)" -- \
      "$CLI" compress "$BASE" "$FT" -o "$DCX" $args -T "$THREADS" -q -f --report "$RUN/$tag.report.json"
    rm -rf "$OUT"
    measure "$label" decompress "$p.decompress.time" "base $(cached_pct "$BASE"/*), dcx $(cached_pct "$DCX")" -- \
      "$CLI" decompress "$BASE" "$DCX" -o "$OUT" -T "$THREADS" -q -f
    measure "$label" "cp -r (after)" "$p.cp2.time" "ft $(cached_pct "$FT"/*)" -- cp -r "$FT" "$CP"
    rm -rf "$CP"
    [ -z "$failed_step" ] || break
    cp_t+=("$(field "$p.cp.time" wall_s)" "$(field "$p.cp2.time" wall_s)")
    # cp with its writeback, as decompress fsyncs its output before the rename
    cps_t+=("$(awk -v a="$(field "$p.cp.time" wall_s)" -v b="$(field "$p.cp.time" sync_s)" 'BEGIN {print a + b}')"
            "$(awk -v a="$(field "$p.cp2.time" wall_s)" -v b="$(field "$p.cp2.time" sync_s)" 'BEGIN {print a + b}')")
    c_t+=("$(field "$p.compress.time" wall_s)"); d_t+=("$(field "$p.decompress.time" wall_s)")
    c_k+=("$(field "$p.compress.time" maxrss_kib)"); d_k+=("$(field "$p.decompress.time" maxrss_kib)")
    # user/sys CPU seconds, keyed by the run's wall time (the best run's are shown)
    c_us+=("$(field "$p.compress.time" wall_s) $(field "$p.compress.time" user_s) / $(field "$p.compress.time" sys_s)")
    d_us+=("$(field "$p.decompress.time" wall_s) $(field "$p.decompress.time" user_s) / $(field "$p.decompress.time" sys_s)")
  done

  if [ -n "$failed_step" ]; then
    rows+=("| $label | – | – | – | – | – | – | – | – | – | – | – | – | FAIL ($failed_step exited non-zero) |")
    fail=1
    rm -rf "$OUT" "$CP" "$DCX"
    continue
  fi

  log "[$label] verify"
  check="PASS"
  if ! "$CLI" info "$DCX" > "$RUN/$tag.info.txt" 2>&1; then check="FAIL (info)"; fail=1; fi
  if ! "$CHECK" "$BASE" "$FT" "$OUT" "$RUN/$tag.report.json" > "$RUN/$tag.check.txt" 2>&1; then
    check="FAIL (rebuild)"; fail=1
  fi
  log "[$label] $(head -1 "$RUN/$tag.check.txt")"
  rm -rf "$OUT"

  dcx_bytes=$(stat -c %s "$DCX")
  cp_s=$(best "${cp_t[@]}"); c_s=$(best "${c_t[@]}"); d_s=$(best "${d_t[@]}")
  cp_mbps=$(mbps "$cp_s"); c_mbps=$(mbps "$c_s"); d_mbps=$(mbps "$d_s")
  c_frac=$(awk -v a="$cp_s" -v b="$c_s" 'BEGIN {printf "%.2f", a/b}')
  d_frac=$(awk -v a="$cp_s" -v b="$d_s" 'BEGIN {printf "%.2f", a/b}')
  cps_s=$(best "${cps_t[@]}")
  ds_frac=$(awk -v a="$cps_s" -v b="$d_s" 'BEGIN {printf "%.2f", a/b}')
  c_ok=$(awk -v f="$c_frac" 'BEGIN {print (f >= 1/3) ? "met" : "missed"}')
  d_ok=$(awk -v f="$d_frac" 'BEGIN {print (f >= 1/2) ? "met" : "missed"}')
  c_rss=$(gib "$(worst "${c_k[@]}")"); d_rss=$(gib "$(worst "${d_k[@]}")")
  ratio=$(awk -v a="$FT_BYTES" -v b="$dcx_bytes" 'BEGIN {printf "%.2f", a/b}')
  dcx_mb=$(awk -v b="$dcx_bytes" 'BEGIN {printf "%.1f", b/1e6}')
  rel=$(sed -n 's/.*rel.error \([0-9.]*\).*/\1/p' "$RUN/$tag.check.txt")
  c_cpu=$(printf '%s\n' "${c_us[@]}" | sort -g | head -1 | cut -d' ' -f2-)
  d_cpu=$(printf '%s\n' "${d_us[@]}" | sort -g | head -1 | cut -d' ' -f2-)
  rows+=("| $label | $c_mbps | $d_mbps | $cp_mbps | $c_frac ($c_ok) | $d_frac ($d_ok) | $ds_frac | $c_cpu | $d_cpu | $c_rss | $d_rss | $dcx_mb | ${ratio}x | $check (rel.err $rel) |")
  [ "$KEEP" = 1 ] || rm -f "$DCX"
done
# A user-space read/write copy for context (coreutils >= 9 `cp` copies in the
# kernel with copy_file_range, never touching the bytes in user space).
log "dd bs=4M copy of the fine-tuned files (read/write yardstick)"
rm -rf "$RUN/dd.tmp"; mkdir -p "$RUN/dd.tmp"
dd_cache=$(cached_pct "$FT"/*)
"$PEAK" --sync -o "$RUN/dd.time" -- bash -c 'for f in "$1"/*; do dd if="$f" of="$2/${f##*/}" bs=4M status=none; done' _ "$FT" "$RUN/dd.tmp"
rm -rf "$RUN/dd.tmp"
details+=("| (yardstick) | dd bs=4M (read/write) | $(field "$RUN/dd.time" wall_s) | $(field "$RUN/dd.time" user_s) | $(field "$RUN/dd.time" sys_s) | $(field "$RUN/dd.time" sync_s) | $(gib "$(field "$RUN/dd.time" maxrss_kib)") | ft $dd_cache |")
dd_mbps=$(mbps "$(field "$RUN/dd.time" wall_s)")
rm -f "$RUN/io_paths.md"
if [ "$IO" = 1 ]; then
  log "I/O paths (deltacodec_io_paths) on the base's largest file"
  big=$(find "$BASE" -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
  "$IOPATHS" "$big" "$RUN" 3 > "$RUN/io_paths.md" || log "io_paths failed"
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

{
  echo "### End-to-end: $LAYERS-layer Llama-2-7B-shaped fp16 pair ($FT_MB MB fine-tuned checkpoint)"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); source tree at run time: commit $rev"
  echo "- machine: $(nproc) cores, $cpu_model, $mem_gib GiB RAM, Linux $kernel"
  echo "- command: \`LAYERS=$LAYERS BENCH_DIR=$BENCH_DIR bash bench/run_bench.sh $BUILD\` (-T $THREADS)"
  echo "- load average (1/5/15 min) before: $load_before; after: $load_after"
  echo
  echo "| config | compress MB/s | decompress MB/s | cp MB/s | compress / cp (target ≥ 0.33) | decompress / cp (target ≥ 0.5) | decompress / (cp + its sync) | compress user / sys s | decompress user / sys s | peak RSS compress GiB | peak RSS decompress GiB | .dcx MB | ratio | check |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Each figure is the best of the configuration's runs ($REPEAT of compress and decompress, $((2 * REPEAT)) of \`cp -r\`, run before and after them; peak RSS: the largest). GNU cp $(cp --version | head -1 | awk '{print $NF}') copies with copy_file_range (in-kernel); a user-space \`dd bs=4M\` copy of the same files ran at $dd_mbps MB/s."
  echo
  echo "Every run (seconds; \"+sync\" is the writeback timed after the command; cache = share of the inputs in the page cache just before):"
  echo
  echo "| config | step | wall s | user s | sys s | +sync s | peak RSS GiB | inputs in page cache |"
  echo "|---|---|---:|---:|---:|---:|---:|---|"
  printf '%s\n' "${details[@]}"
  echo
  echo "decompress fsyncs each output before its rename, so its wall time holds the writeback; \"decompress / (cp + its sync)\" compares it with \`cp\` followed by \`sync\`, the same work."
  if [ -s "$RUN/io_paths.md" ]; then
    echo
    echo "What each I/O path costs here (\`deltacodec_io_paths\`, the base shard, best of 3; no codec work):"
    echo
    cat "$RUN/io_paths.md"
  fi
} | tee "$RESULTS"
log "results in $RESULTS"
exit $fail
