#!/usr/bin/env bash
# step_perf.sh OUTDIR: issue 12's measurements in one device call (H200, a built build/, repository root as cwd).
# Parts, in order, each with its time limit (seconds, env override), about 9 minutes in all; a part that
# runs out of time loses only its own output:
#   memcheck     60  compute-sanitizer memcheck over the tests of what this work added or changed: the int8
#                    predictor and row_dot (kernel_tests *Lowrank*, *SparseMlpUp*), and the decode step with
#                    PDL and int8 predictors (cuda_engine_tests PdlEngine*, *int8*; the kernel tests launch on
#                    the legacy stream, where PDL is off)
#   kernelbench  60  kernel_bench: sparse MLP up/down/up+down vs dense cuBLAS, opt-13b/30b/66b, densities
#                    5-100%, batch 1 (20 repetitions, L2 flushed)
#   enginebench 240  dejavu bench, batch 1, opt-1.3b..66b: dense, sparse fixed (MLP 10% / 50%, heads 50%),
#                    sparse + random predictors at MLP 10% and 50% with fp16 and int8 predictor weights; then
#                    the same with DEJAVU_PDL=0 (dense, fixed 10%, fp16 predictors 10%) -> bench_nopdl.json
#   hfbench     170  scripts/bench_hf.py: Hugging Face eager and torch.compile on opt-1.3b/13b/30b
# Then scripts/results_table.py over OUTDIR -> OUTDIR/results_table.md (the README table and the goals).
# Results: OUTDIR/{bench.json,bench.csv,bench_nopdl.json,kernel_bench.json,kernel_bench.csv,bench_hf.json,
# bench_hf.csv,memcheck_*.log,*.log,results_table.md,summary.txt}. Copy them to results/h200/<date>_<commit>/.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?usage: scripts/device/step_perf.sh OUTDIR}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }
part() {  # part NAME LIMIT CMD...: runs CMD under its time limit, notes rc and seconds
  local name=$1 limit=$2 start=$(date +%s)
  shift 2
  timeout "$limit" "$@"
  local rc=$?
  note "$name: rc=$rc in $(( $(date +%s) - start )) s (limit $limit s)"
}
export DEJAVU_COMMIT=${DEJAVU_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
note "step_perf at commit $DEJAVU_COMMIT on $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null)"

KT=build/tests/kernels/kernel_tests
ET=build/tests/cuda_engine/cuda_engine_tests
if [ -x "$KT" ] && command -v compute-sanitizer >/dev/null; then
  part memcheck_kernels $(( ${DEJAVU_PERF_SAN_S:-60} / 2 )) compute-sanitizer --tool memcheck --error-exitcode 1 "$KT" \
    --gtest_filter='*Lowrank*:*SparseMlpUp*' \
    >"$OUT/memcheck_kernels.log" 2>&1
  grep -E "ERROR SUMMARY|PASSED|FAILED" "$OUT/memcheck_kernels.log" | tail -3 | tee -a "$SUMMARY"
fi
if [ -x "$ET" ] && command -v compute-sanitizer >/dev/null; then
  part memcheck_pdl_engine $(( ${DEJAVU_PERF_SAN_S:-60} / 2 )) compute-sanitizer --tool memcheck --error-exitcode 1 "$ET" \
    --gtest_filter='PdlEngine*:Int8Rows*:*int8*' >"$OUT/memcheck_pdl_engine.log" 2>&1
  grep -E "ERROR SUMMARY|PASSED|FAILED" "$OUT/memcheck_pdl_engine.log" | tail -3 | tee -a "$SUMMARY"
fi

if [ -x build/kernels/bench/kernel_bench ]; then
  mkdir -p "$OUT/kb"
  part kernel_bench "${DEJAVU_PERF_KB_S:-60}" build/kernels/bench/kernel_bench --shapes opt-13b opt-30b opt-66b \
    --batches 1 --densities 5 10 20 30 50 70 100 --reps 20 --out "$OUT/kb" >"$OUT/kernel_bench.log" 2>&1
  cp "$OUT"/kb/kernel_bench.* "$OUT"/ 2>/dev/null && rm -rf "$OUT/kb"
fi

SHAPES=opt-1.3b,opt-6.7b,opt-13b,opt-30b,opt-66b
COMMON=(--shapes "$SHAPES" --batch-sizes 1 --head-density 0.5 --mlp-density 0.1 --warmup 5 --gen-tokens 30)
mkdir -p "$OUT/eb" "$OUT/eb_nopdl"
part dejavu_bench "$(( ${DEJAVU_PERF_BENCH_S:-240} * 3 / 5 ))" ./build/dejavu bench "${COMMON[@]}" \
  --densities 0.1,0.5 --predictor-mlp-densities 0.1,0.5 --predictor-dtype fp16,int8 --out "$OUT/eb" \
  >"$OUT/engine_bench.log" 2>&1
part dejavu_bench_nopdl "$(( ${DEJAVU_PERF_BENCH_S:-240} * 2 / 5 ))" env DEJAVU_PDL=0 ./build/dejavu bench "${COMMON[@]}" \
  --densities 0.1 --predictor-dtype fp16 --out "$OUT/eb_nopdl" >"$OUT/engine_bench_nopdl.log" 2>&1
cp "$OUT"/eb/bench.json "$OUT"/eb/bench.csv "$OUT"/ 2>/dev/null
cp "$OUT"/eb_nopdl/bench.json "$OUT"/bench_nopdl.json 2>/dev/null
rm -rf "$OUT/eb" "$OUT/eb_nopdl"

part bench_hf "${DEJAVU_PERF_HF_S:-170}" python3 scripts/bench_hf.py --out "$OUT" --shapes opt-1.3b,opt-13b,opt-30b \
  --compile-shapes opt-1.3b,opt-13b,opt-30b --warmup 5 --iters 30 >"$OUT/hf_bench.log" 2>&1
grep -E '^\{' "$OUT/hf_bench.log" | cut -c1-200 | tee -a "$SUMMARY"

if [ -f "$OUT/bench.json" ]; then
  python3 scripts/results_table.py "$OUT" >"$OUT/results_table.md" 2>>"$OUT/results_table.log"
  note "results_table: rc=$?"
  cat "$OUT/results_table.md"
fi
cat "$SUMMARY"
