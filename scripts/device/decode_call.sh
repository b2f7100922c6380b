#!/usr/bin/env bash
# decode_call.sh: one device call for issue 19: build the targets the decode checks need (all cores), then
# scripts/device/step_decode.sh with DEJAVU_DECODE_PARTS; everything is packed into $OUT/decode.tgz (the device
# returns at most 8 files) with $OUT/summary.txt beside it. Before the call, here:
#   mkdir -p .carry/data && cp -r ../shared/data/{gpt2-bpe,wikitext-2} .carry/data     (carry .carry)
# The tree that travels (tracked + carried) must stay under 64 MiB: since session 13 it does only with WikiText-2
# cut to its first 2,000 lines in .carry (the model part reads 4,096 tokens) and results/ moved out of the tree
# for the call (the device needs none of it; put it back before committing).
# and pass DEJAVU_COMMIT=$(git rev-parse --short HEAD) (.git does not travel). DEJAVU_WITH_COLLECT=1 adds issue
# 21's collection figure (scripts/device/step_collect.sh on a random opt-1.3b, limit DEJAVU_T_COLLECT s).
# After it, issue 19's goals from the rows:
#   mkdir -p R && tar xzf decode.tgz -C R && python3 scripts/decode_goals.py R --json R/goals.json
# Timings (H100): build 92-130 s on 16 cores (99 s for dejavu + cuda_engine_tests alone), tests 80 s, bench of five
# shapes 26 s (+ ~16 s per DEJAVU_BENCH_VARIANTS entry), model 45 s for opt-1.3b (make, collect, train, batch
# 1..32) and more than the 75 s left of DEJAVU_T_MODEL=120 for opt-13b (c3c1098: 100 s for both under the default
# 330), kernels 47 s, hf 82 s; sanitize needs more than DEJAVU_T_SAN=20 / DEJAVU_T_RACE=30 for the kernel cases'
# memcheck / synccheck and the QKV racecheck (24def80). Session 13 ran real selections and Hugging Face at the
# default (5d10964: tests + bench + model 311 s; 1771ac9: bench + model with two MLP inputs + hf 438 s on an H200).
# Session 14: 301cf2c tests + bench with three variants 258 s (H100); sanitize with DEJAVU_T_SAN=60 DEJAVU_T_RACE=90
# 204 s warm (the QKV racecheck still ran out); 59b3546 tests + bench with four persistent variants 325 s (H200).
# Session 15 got no machine. Session 16 (all H100): 544a0b5 tests + opbench + bench with five persistent variants
# 353 s, then model + hf 271 s warm; 0712945 tests + bench with two variants + opprofile 356 s with a sanitize of the
# persistent QKV entries in the same command (racecheck 82 s); 8ad1ce0 build of three targets 93 s + opbench +
# bench on two shapes with one variant + the persistent suites 127 s. Next: persistent_op_bench's `L1 no waits`
# column and the down units' L2 prefetch (both not yet run), and the goals on an H200 at the new defaults, then real
# selections and Hugging Face warm:
#   DEJAVU_DECODE_PARTS="tests opbench bench" DEJAVU_TARGETS="dejavu kernel_tests cuda_engine_tests persistent_tests
#     persistent_op_bench" DEJAVU_BENCH_VARIANTS="persistent_down_prefetch persistent_smem_max"   (about 360 s)
#   DEJAVU_DECODE_PARTS="model hf" DEJAVU_TARGETS="dejavu"   (about 270 s)
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
