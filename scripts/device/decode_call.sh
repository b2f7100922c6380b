#!/usr/bin/env bash
# decode_call.sh: one device call for issue 19: build the targets the decode checks need (all cores), then
# scripts/device/step_decode.sh with DEJAVU_DECODE_PARTS; everything is packed into $OUT/decode.tgz (the device
# returns at most 8 files) with $OUT/summary.txt beside it. Before the call, here:
#   mkdir -p .carry/data && cp -r ../shared/data/{gpt2-bpe,wikitext-2} .carry/data     (carry .carry)
# and pass DEJAVU_COMMIT=$(git rev-parse --short HEAD) (.git does not travel). DEJAVU_WITH_COLLECT=1 adds issue
# 21's collection figure (scripts/device/step_collect.sh on a random opt-1.3b, limit DEJAVU_T_COLLECT s).
# After it, issue 19's goals from the rows:
#   mkdir -p R && tar xzf decode.tgz -C R && python3 scripts/decode_goals.py R --json R/goals.json
# Timings of the last full call (H100, c3c1098, 443 s): build 92 s on 16 cores, tests 50 s, bench of five shapes
# 25 s (+ ~15 s per DEJAVU_BENCH_VARIANTS entry), model 100 s for opt-1.3b (batch 1..32) + opt-13b, kernels 33 s,
# hf 82 s; session 11 (24def80): sanitize needs more than DEJAVU_T_SAN=20 / DEJAVU_T_RACE=30 for the kernel cases'
# memcheck / synccheck and the QKV racecheck (they ran out). The call the session-11 note asks for next (real
# selections and Hugging Face at the tiled-w_qkv default of d94b341, sanitize with room, read_pattern_bench's
# row patterns in the kernels part), more than one call's 600 s, so two calls:
#   DEJAVU_DECODE_PARTS="tests sanitize" DEJAVU_T_SAN=60 DEJAVU_T_RACE=90
#   DEJAVU_DECODE_PARTS="bench model kernels hf" DEJAVU_BENCH_VARIANTS="qkv_rowmajor"
#     DEJAVU_DECODE_MODELS="opt-1.3b opt-13b" DEJAVU_T_MODEL=120
set -uo pipefail
cd "$(dirname "$0")/../.."
FINAL=${OUT:-/tmp/dejavu-out}
WORK=/tmp/dejavu-decode
rm -rf "$WORK"
mkdir -p "$WORK" "$FINAL"
[ -d .carry/data ] && export DEJAVU_DATA_DIR=$PWD/.carry/data
pack() {
  trap - EXIT TERM
  tar czf "$FINAL/decode.tgz" --exclude='*.h5' --exclude='*.safetensors' -C "$WORK" . 2>/dev/null
  cp "$WORK/summary.txt" "$FINAL/summary.txt" 2>/dev/null
}
trap pack EXIT
trap 'echo "stopped by SIGTERM (time limit)" >>"$WORK/summary.txt"; pack; exit 124' TERM
start=$(date +%s)
TARGETS=${DEJAVU_TARGETS:-dejavu kernel_tests cuda_engine_tests persistent_tests kernel_bench}
{ cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release && cmake --build build -j "$(nproc)" --target $TARGETS; } \
  >"$WORK/build.log" 2>&1
echo "build: rc=$? in $(( $(date +%s) - start )) s ($TARGETS)" | tee "$WORK/summary.txt"
grep -E "error:|FAILED:" "$WORK/build.log" | head -20 | tee -a "$WORK/summary.txt"
bash scripts/device/step_decode.sh "$WORK" >/dev/null 2>&1
if [ "${DEJAVU_WITH_COLLECT:-0}" = 1 ]; then
  # Issue 21 item 12 in the same call: collect at sample_every 1 on a random opt-1.3b beside the dense forward
  # and dd (scripts/device/step_collect.sh; its stores stay outside the packed folder).
  t0=$(date +%s)
  python3 scripts/make_random_opt.py --shape opt-1.3b /tmp/dejavu-opt-1.3b --device cuda --dtype float16 --force \
    >"$WORK/make_random_opt.log" 2>&1 &&
    DEJAVU_COLLECT_WORK=/tmp/dejavu-collect-work timeout -k 10 "${DEJAVU_T_COLLECT:-240}" \
      bash scripts/device/step_collect.sh "$WORK/collect" /tmp/dejavu-opt-1.3b >"$WORK/collect.log" 2>&1
  echo "collect: rc=$? in $(( $(date +%s) - t0 )) s" >>"$WORK/summary.txt"
  tail -12 "$WORK/collect/collect_summary.txt" >>"$WORK/summary.txt" 2>/dev/null
fi
pack
cat "$FINAL/summary.txt"
