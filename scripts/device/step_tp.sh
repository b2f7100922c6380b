#!/usr/bin/env bash
# step_tp.sh OUTDIR: issue 14 (tensor parallelism) on ONE GPU, about 60-90 s (repository root as cwd, a built
# build/). What one GPU can check:
#   tests   30  build/tests/tp/tp_engine_tests (the sharded engine at world size 1 equals the plain CUDA engine,
#               dense / sparse-fixed / sparse-predictor, graphs on and off; the all-reduce switch; `bench --tp 2`
#               with one GPU exits 2 at once) and tp_nccl_tests (the communicator)
#   model   25  a random opt-1.3b-shaped checkpoint (scripts/make_random_opt.py, fp16, on the GPU; reused when
#               $DEJAVU_TP_MODEL or OUTDIR/opt-1.3b-random already holds one)
#   bench   30  dejavu bench --tp 1 --model that checkpoint (each rank maps its slice: here the whole model):
#               dense vs sparse-fixed vs sparse-predictor, all-reduce share, floor fraction -> OUTDIR/tp_bench.*
# Prints a summary (OUTDIR/summary.txt). The several-GPU runs are scripts/device/step_tp_multi.sh.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?usage: scripts/device/step_tp.sh OUTDIR}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }
part() {  # part NAME LIMIT CMD...
  local name=$1 limit=$2 start=$(date +%s)
  shift 2
  timeout "$limit" "$@"
  local rc=$?
  note "$name: rc=$rc in $(( $(date +%s) - start )) s (limit $limit s)"
  return $rc
}
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export DEJAVU_BIN=$PWD/build/dejavu DEJAVU_SOURCE_DIR=$PWD
note "step_tp at ${DEJAVU_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null)} on $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"

part tp_engine_tests ${DEJAVU_TP_TEST_S:-40} build/tests/tp/tp_engine_tests >"$OUT/tp_engine_tests.log" 2>&1
grep -E "^\[  (PASSED|FAILED|SKIPPED) " "$OUT/tp_engine_tests.log" | tee -a "$SUMMARY"
part tp_nccl_tests 20 build/tests/tp/tp_nccl_tests >"$OUT/tp_nccl_tests.log" 2>&1
grep -E "^\[  (PASSED|FAILED) " "$OUT/tp_nccl_tests.log" | tee -a "$SUMMARY"

MODEL=${DEJAVU_TP_MODEL:-$OUT/opt-1.3b-random}
[ -f "$MODEL/config.json" ] || part make_opt-1.3b 60 python3 scripts/make_random_opt.py --shape opt-1.3b "$MODEL" \
  --device cuda --dtype float16 --force >"$OUT/make_model.log" 2>&1
part bench_tp1 60 build/dejavu bench --tp 1 --model "$MODEL" --mlp-density 0.1 --head-density 0.5 \
  --prompt-len 128 --warmup 5 --gen-tokens 40 --out "$OUT" >"$OUT/bench_tp1.log" 2>&1
grep -E "^  [^ ]+ +tp[0-9]|^device|^note" "$OUT/bench_tp1.log" | tee -a "$SUMMARY"
[ -z "${DEJAVU_TP_MODEL:-}" ] && rm -rf "$MODEL"  # 2.6 GB of random weights: not a result
echo "step_tp: summary in $SUMMARY"
