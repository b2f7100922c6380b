#!/usr/bin/env bash
# The one script for the GPU machine (H100, see /work/.library/device): builds, tests and benchmarks in a
# single call and leaves logs and results under $OUT (at most 8 files come back, 16 MiB each).
# Before the call, here: mkdir -p .carry/data && cp -r ../shared/data/{gpt2-bpe,wikitext-2} .carry/data
# and name .carry in the device call's carry list.
# Steps (select with DEJAVU_STEPS, default all): build, ctest, sanitizer, parity, perplexity, kernelbench, enginebench
#   build        cmake + build every target with all cores
#   ctest        the whole suite, GPU tests included
#   sanitizer    compute-sanitizer memcheck over the kernel tests
#   parity       HF parity of the reference model on CUDA (tests/python/test_hf_parity.py --device cuda)
#   perplexity   dejavu perplexity of data/models/opt-mini on WikiText-2 test, CPU vs GPU
#   kernelbench  kernel microbenchmarks vs copy bandwidth and cuBLAS (build/kernels/bench/kernel_bench)
#   enginebench  `dejavu bench` (dense vs sparse decode latency) when it exists
set -uo pipefail
cd "$(dirname "$0")/../.."
FINAL_OUT=${OUT:-/tmp/dejavu-out}
# Everything goes to a work folder that is packed into one results.tgz at the end (the device returns
# at most 8 files); summary.txt is also copied beside it.
OUT=/tmp/dejavu-gpu-results
rm -rf "$OUT"
mkdir -p "$OUT" "$FINAL_OUT"
STEPS=${DEJAVU_STEPS:-build ctest sanitizer parity perplexity kernelbench enginebench}
LOG="$OUT/gpu_check.log"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }
has() { [[ " $STEPS " == *" $1 "* ]]; }
export DEJAVU_SOURCE_DIR=$PWD
export DEJAVU_COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
# ../shared does not travel to the GPU machine: the caller copies what the tests need into .carry/data.
[ -d .carry/data ] && export DEJAVU_DATA_DIR=$PWD/.carry/data

note "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown) on $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null)"
if has build; then
  start=$(date +%s)
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >>"$LOG" 2>&1 &&
    cmake --build build -j "$(nproc)" -- -k 0 >>"$LOG" 2>&1
  note "build: rc=$? in $(( $(date +%s) - start )) s"
  grep -E "error:|FAILED:" "$LOG" | head -30 | tee -a "$SUMMARY"
fi
if has ctest; then
  (cd build && ctest --output-on-failure -j 8 --timeout 600 >"$OUT/ctest.log" 2>&1)
  note "ctest: rc=$? $(grep -E 'tests passed|tests failed' "$OUT/ctest.log" | tail -1)"
  grep -E '\*\*\*Failed|\*\*\*Skipped|Not Run' "$OUT/ctest.log" | head -20 | tee -a "$SUMMARY"
fi
if has sanitizer && [ -x build/tests/kernels/kernel_tests ]; then
  compute-sanitizer --tool memcheck --leak-check full --error-exitcode 1 build/tests/kernels/kernel_tests \
    >"$OUT/memcheck.log" 2>&1
  note "memcheck kernel_tests: rc=$? $(grep -E 'ERROR SUMMARY' "$OUT/memcheck.log" | tail -1)"
fi
if has parity; then
  python3 tests/python/test_hf_parity.py build/tests/engine/dv_logits --device cuda --workdir /tmp/parity \
    --json "$OUT/parity_cuda.json" >>"$SUMMARY" 2>>"$LOG"
  note "parity cuda: rc=$?"
fi
if has perplexity && [ -f data/models/opt-mini/config.json ] && [ -f "${DEJAVU_DATA_DIR:-none}/wikitext-2/test.txt" ]; then
  for dev in cuda cpu; do
    ./build/dejavu perplexity --model data/models/opt-mini --text "$DEJAVU_DATA_DIR/wikitext-2/test.txt" --device $dev \
      --batch 8 --json >"$OUT/ppl_$dev.json" 2>>"$LOG"
    note "perplexity $dev: $(cat "$OUT/ppl_$dev.json")"
  done
fi
if has kernelbench && [ -x build/kernels/bench/kernel_bench ]; then
  mkdir -p "$OUT/bench"
  timeout 300 build/kernels/bench/kernel_bench ${DEJAVU_KERNEL_BENCH_ARGS:-} --out "$OUT/bench" >"$OUT/kernel_bench.log" 2>&1
  note "kernel_bench: rc=$?"
  tail -40 "$OUT/kernel_bench.log" >>"$SUMMARY"
fi
if has enginebench && ./build/dejavu bench --help >/dev/null 2>&1; then
  mkdir -p "$OUT/bench"
  timeout 300 ./build/dejavu bench --out "$OUT/bench" >"$OUT/engine_bench.log" 2>&1
  note "dejavu bench: rc=$?"
  tail -30 "$OUT/engine_bench.log" >>"$SUMMARY"
fi
tar czf "$FINAL_OUT/results.tgz" -C "$OUT" .
cp "$SUMMARY" "$FINAL_OUT/summary.txt"
cat "$SUMMARY"
