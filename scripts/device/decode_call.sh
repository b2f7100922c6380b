#!/usr/bin/env bash
# decode_call.sh: one device call for issue 19: build the targets the decode checks need (all cores), then
# scripts/device/step_decode.sh with DEJAVU_DECODE_PARTS; everything is packed into $OUT/decode.tgz (the device
# returns at most 8 files) with $OUT/summary.txt beside it. Before the call, here:
#   mkdir -p .carry/data && cp -r ../shared/data/{gpt2-bpe,wikitext-2} .carry/data     (carry .carry)
# and pass DEJAVU_COMMIT=$(git rev-parse --short HEAD) (.git does not travel). After it, issue 19's goals from the rows:
#   mkdir -p R && tar xzf decode.tgz -C R && python3 scripts/decode_goals.py R --json R/goals.json
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
pack
cat "$FINAL/summary.txt"
