#!/usr/bin/env bash
# step_tp_multi.sh OUTDIR: issue 14 on a SEVERAL-GPU machine (4 or more GPUs of one host; repository root as
# cwd, a built build/). NOT RUN YET: no several-GPU machine was lent when it was written; the coordinator's
# first run of it is its first test. About 8 minutes on 4 H200s:
#   parity   60  tp_engine_tests' RanksMatchOneGpu at world 2 and 4: one process per GPU (RANK / WORLD_SIZE /
#                LOCAL_RANK, a fresh DEJAVU_NCCL_ID_FILE); every rank's TP logits (dense, sparse with fixed
#                lists, sparse with per-rank predictors against the plain engine run on the union of the
#                ranks' selections) against a plain engine holding the whole model on its own GPU, graphs on
#                and off, and the ranks' logits against each other
#   tp2-66b 200  dejavu bench --tp 2 --shapes opt-66b (random weights, each rank draws its slice): dense,
#                sparse-fixed, sparse-predictor; all-reduce share, slowest/mean rank, fraction of the floor
#   tp4-175b 240 dejavu bench --tp 4 --shapes opt-175b (the same; 87.5 GB of fp16 weights per rank)
# NVLink multicast stays off (NCCL_NVLS_ENABLE=0 etc., as the machines need).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?usage: scripts/device/step_tp_multi.sh OUTDIR}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
GPUS=$(nvidia-smi -L 2>/dev/null | wc -l)
note "step_tp_multi at $(git rev-parse --short HEAD 2>/dev/null): $GPUS GPU(s)"

# parity WORLD: one gtest process per rank, all stopped when one fails or the limit passes (no hang).
parity() {
  local world=$1 id="$OUT/.nccl_id.parity$1.$$" pids=() rc=0
  for ((r = 0; r < world; r++)); do
    RANK=$r LOCAL_RANK=$r WORLD_SIZE=$world DEJAVU_NCCL_ID_FILE=$id timeout 120 \
      build/tests/tp/tp_engine_tests --gtest_filter='TpEngine.RanksMatchOneGpu' >"$OUT/parity_tp${world}_rank$r.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  rm -f "$id"*
  note "parity tp$world: rc=$rc ($(grep -h -E '^\[  (PASSED|FAILED|SKIPPED) ' "$OUT"/parity_tp${world}_rank*.log | sort | uniq -c | tr -s ' ' | tr '\n' ';'))"
}
[ "$GPUS" -ge 2 ] && parity 2
[ "$GPUS" -ge 4 ] && parity 4

bench() {  # bench NAME TP SHAPE LIMIT
  local start=$(date +%s)
  timeout "$4" build/dejavu bench --tp "$2" --shapes "$3" --mlp-density 0.1 --head-density 0.5 --prompt-len 128 \
    --warmup 5 --gen-tokens 40 --out "$OUT/$1" >"$OUT/$1.log" 2>&1
  note "$1: rc=$? in $(( $(date +%s) - start )) s"
  grep -E "^  [^ ]+ +tp[0-9]|^note" "$OUT/$1.log" | tee -a "$SUMMARY"
}
[ "$GPUS" -ge 2 ] && bench tp2_opt-66b 2 opt-66b 240
[ "$GPUS" -ge 4 ] && bench tp4_opt-175b 4 opt-175b 300
echo "step_tp_multi: summary in $SUMMARY"
