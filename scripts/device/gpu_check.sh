#!/usr/bin/env bash
# The one script for the GPU machine (H100, now H200; see /work/.library/device): builds, tests and benchmarks in a
# single call and leaves logs and results under $OUT (at most 8 files come back, 16 MiB each).
# Before the call, here: mkdir -p .carry/data && cp -r ../shared/data/{gpt2-bpe,wikitext-2} .carry/data
# and name .carry in the device call's carry list.
# Predictors for the sparse end-to-end step: mkdir -p .carry/predictors && cp RUN/train/predictors.safetensors
# .carry/predictors (from `dejavu run experiments/quickstart.yaml`) and carry .carry/predictors as well.
# Steps (select with DEJAVU_STEPS, default all): build, ctest, sanitizer, parity, perplexity, sparse, kernelbench,
# enginebench, hfbench. DEJAVU_CTEST_ARGS adds ctest arguments (e.g. "-L gpu": only the GPU-labelled tests).
#   build        cmake + build every target with all cores
#   ctest        the whole suite, GPU tests included
#   sanitizer    compute-sanitizer memcheck over the kernel tests
#   parity       HF parity of the reference model on CUDA (tests/python/test_hf_parity.py --device cuda)
#   perplexity   dejavu perplexity of data/models/opt-mini on WikiText-2 test, CPU vs GPU
#   kernelbench  kernel microbenchmarks vs copy bandwidth and cuBLAS (build/kernels/bench/kernel_bench)
#   sparse       opt-mini on the GPU engine with trained predictors: generate --engine cuda text, and perplexity --engine cuda
#                sparse vs the CPU fp32 reference masked with the engine's own selections (--compare-reference)
#   enginebench  `dejavu bench` (dense vs sparse decode latency) when it exists
#   hfbench      scripts/bench_hf.py: Hugging Face eager (+ torch.compile on opt-1.3b) on the same shapes
#   engine       scripts/device/step_engine.sh: scoring tokens/s, --engine cuda (one-pass prefill) vs reference
#   scale        scripts/device/step_scale.sh: random opt-1.3b / opt-6.7b, experiments/scale-opt-1.3b.yaml stage by
#                stage, collect + train on opt-6.7b, dense forward tokens/s and the disk's write rate (issue 10)
#   collectspeed scripts/device/step_collect.sh on the scale step's opt-1.3b: collect at sample_every 1 (issue 10)
#   tasks        scripts/device/step_tasks.sh: the zero-shot experiments and head-sparsity-study on opt-mini
#   tp           scripts/device/step_tp.sh: the sharded engine at world size 1, bench --tp 1 (issue 14)
#   perf         scripts/device/step_perf.sh: bench (PDL on/off, fp16/int8 predictors), kernel_bench, HF eager +
#                compiled, memcheck of the new kernels, the README table (issue 12); about 9 minutes alone
set -uo pipefail
cd "$(dirname "$0")/../.."
FINAL_OUT=${OUT:-/tmp/dejavu-out}
# Everything goes to a work folder that is packed into one results.tgz at the end (the device returns
# at most 8 files); summary.txt is also copied beside it.
OUT=/tmp/dejavu-gpu-results
rm -rf "$OUT"
mkdir -p "$OUT" "$FINAL_OUT"
STEPS=${DEJAVU_STEPS:-build ctest sanitizer parity perplexity sparse engine}
LOG="$OUT/gpu_check.log"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }
# Pack whatever exists when the script ends, also when the device's time limit stops it (SIGTERM).
pack() {
  trap - EXIT TERM
  # Activation stores and predictors stay behind: the device returns files of at most 16 MiB.
  tar czf "$FINAL_OUT/results.tgz" --exclude='*.h5' --exclude='*.safetensors' --exclude='*.jsonl' -C "$OUT" . && cp "$SUMMARY" "$FINAL_OUT/summary.txt"
}
trap pack EXIT
trap 'note "stopped by SIGTERM (time limit)"; pack; exit 124' TERM
has() { [[ " $STEPS " == *" $1 "* ]]; }
export DEJAVU_SOURCE_DIR=$PWD
# .git does not travel to the device, so binaries built there bake commit "unknown" (kernels/common/build_info.h)
# and record DEJAVU_COMMIT instead: the caller passes DEJAVU_COMMIT=$(git rev-parse --short HEAD).
export DEJAVU_COMMIT=${DEJAVU_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
# ../shared does not travel to the GPU machine: the caller copies what the tests need into .carry/data.
[ -d .carry/data ] && export DEJAVU_DATA_DIR=$PWD/.carry/data

note "commit $DEJAVU_COMMIT on $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null)"
if has build; then
  start=$(date +%s)
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >>"$LOG" 2>&1 &&
    cmake --build build -j "$(nproc)" -- -k 0 >>"$LOG" 2>&1
  note "build: rc=$? in $(( $(date +%s) - start )) s"
  grep -E "error:|FAILED:" "$LOG" | head -30 | tee -a "$SUMMARY"
fi
if has ctest; then
  (cd build && ctest --output-on-failure -j 8 --timeout 600 ${DEJAVU_CTEST_ARGS:-} >"$OUT/ctest.log" 2>&1)
  note "ctest: rc=$? $(grep -E 'tests passed|tests failed' "$OUT/ctest.log" | tail -1)"
  grep -E '\*\*\*Failed|\*\*\*Skipped|Not Run' "$OUT/ctest.log" | head -20 | tee -a "$SUMMARY"
fi
if has sanitizer && [ -x build/tests/kernels/kernel_tests ]; then
  timeout ${DEJAVU_SAN_TIMEOUT:-240} compute-sanitizer --tool memcheck --leak-check full --error-exitcode 1 build/tests/kernels/kernel_tests \
    >"$OUT/memcheck.log" 2>&1
  note "memcheck kernel_tests: rc=$? $(grep -E 'ERROR SUMMARY' "$OUT/memcheck.log" | tail -1)"
fi
if has parity; then
  python3 tests/python/test_hf_parity.py build/tests/engine/dv_logits --device cuda --workdir /tmp/parity \
    --json "$OUT/parity_cuda.json" >>"$SUMMARY" 2>>"$LOG"
  note "parity cuda: rc=$?"
fi
if has perplexity && [ -f data/models/opt-mini/config.json ] && [ -f "${DEJAVU_DATA_DIR:-none}/wikitext-2/test.txt" ]; then
  for dev in ${DEJAVU_PPL_DEVICES:-cuda cpu}; do
    timeout 120 ./build/dejavu perplexity --model data/models/opt-mini --text "$DEJAVU_DATA_DIR/wikitext-2/test.txt" --device $dev \
      --batch 8 --json >"$OUT/ppl_$dev.json" 2>>"$LOG"
    note "perplexity $dev: $(cat "$OUT/ppl_$dev.json")"
  done
fi
PRED=.carry/predictors
if has sparse && [ -f "$PRED/predictors.safetensors" ] && [ -f "${DEJAVU_DATA_DIR:-none}/wikitext-2/test.txt" ]; then
  P="Paris is the capital of France. The city is known for"
  # DEJAVU_GEN_DENSITIES: MLP,HEADS pairs for the sparse generations; DEJAVU_PPL_DENSITIES likewise (empty: none).
  modes=("")
  for dens in ${DEJAVU_GEN_DENSITIES:-"0.1,0.5"}; do
    modes+=("--sparse --predictors $PRED --mlp-density ${dens%,*} --head-density ${dens#*,}")
  done
  for mode in "${modes[@]}"; do
    timeout 60 ./build/dejavu generate --engine cuda --model data/models/opt-mini $mode --prompt "$P" --max-new-tokens 40 \
      --print-ids >>"$OUT/sparse_generate.txt" 2>>"$OUT/sparse_generate.txt"
    note "generate --engine cuda ${mode:-dense}: rc=$? $(tail -n 3 "$OUT/sparse_generate.txt" | head -n 1 | cut -c1-300)"
  done
  for dens in ${DEJAVU_PPL_DENSITIES-0.1,0.5 0.25,0.75}; do
    set -- ${dens%,*} ${dens#*,}
    timeout 120 ./build/dejavu perplexity --engine cuda --model data/models/opt-mini --sparse --predictors $PRED \
      --mlp-density $1 --head-density $2 --text "$DEJAVU_DATA_DIR/wikitext-2/test.txt" --max-tokens 16384 \
      --seq-len 512 --compare-reference --json >"$OUT/ppl_sparse_m$1_h$2.json" 2>>"$LOG"
    note "perplexity --engine cuda sparse mlp $1 heads $2: rc=$? $(cat "$OUT/ppl_sparse_m$1_h$2.json")"
  done
  if [ -n "${DEJAVU_PPL_DENSITIES-x}" ]; then
    timeout 120 ./build/dejavu perplexity --engine cuda --model data/models/opt-mini --text "$DEJAVU_DATA_DIR/wikitext-2/test.txt" \
      --max-tokens 16384 --seq-len 512 --compare-reference --json >"$OUT/ppl_dense_engine.json" 2>>"$LOG"
    note "perplexity --engine cuda dense: rc=$? $(cat "$OUT/ppl_dense_engine.json")"
  fi
fi
if has kernelbench && [ -x build/kernels/bench/kernel_bench ]; then
  mkdir -p "$OUT/bench"
  timeout ${DEJAVU_KB_TIMEOUT:-300} build/kernels/bench/kernel_bench ${DEJAVU_KERNEL_BENCH_ARGS:-} --out "$OUT/bench" >"$OUT/kernel_bench.log" 2>&1
  note "kernel_bench: rc=$?"
  tail -40 "$OUT/kernel_bench.log" >>"$SUMMARY"
fi
if has enginebench && ./build/dejavu bench --help >/dev/null 2>&1; then
  mkdir -p "$OUT/bench"
  timeout ${DEJAVU_BENCH_TIMEOUT:-300} ./build/dejavu bench ${DEJAVU_BENCH_ARGS:-} --out "$OUT/bench" >"$OUT/engine_bench.log" 2>&1
  note "dejavu bench: rc=$?"
  tail -30 "$OUT/engine_bench.log" >>"$SUMMARY"
fi
if has hfbench; then
  mkdir -p "$OUT/bench"
  timeout ${DEJAVU_HF_TIMEOUT:-240} python3 scripts/bench_hf.py --out "$OUT/bench" ${DEJAVU_HF_ARGS:-} \
    >"$OUT/hf_bench.log" 2>&1
  note "bench_hf: rc=$?"
  tail -12 "$OUT/hf_bench.log" >>"$SUMMARY"
  python3 scripts/plot_bench.py "$OUT/bench" >>"$LOG" 2>&1
fi
# The issue steps: each script prints its own summary; they run in the order given in DEJAVU_STEPS' list here.
run_step() {  # run_step NAME SCRIPT ARGS...
  local name=$1 start=$(date +%s)
  shift
  bash "$@" >"$OUT/$name.log" 2>&1
  note "$name: rc=$? in $(( $(date +%s) - start )) s"
  tail -${DEJAVU_STEP_TAIL:-25} "$OUT/$name.log" >>"$SUMMARY"
}
has engine && run_step engine scripts/device/step_engine.sh "$OUT/engine" ${DEJAVU_ENGINE_MODEL:-}
has scale && run_step scale scripts/device/step_scale.sh "$OUT/scale"
if has collectspeed && [ -f scripts/device/step_collect.sh ]; then
  run_step collectspeed scripts/device/step_collect.sh "$OUT/collect" "${DEJAVU_SCALE_DIR:-/tmp/dejavu-scale}/models/opt-1.3b-random"
fi
has perf && run_step perf scripts/device/step_perf.sh "$OUT/perf"
has tasks && run_step tasks scripts/device/step_tasks.sh "$OUT/tasks"
has tp && run_step tp scripts/device/step_tp.sh "$OUT/tp"
pack
cat "$SUMMARY"
