#!/usr/bin/env bash
# step_model_bench.sh OUTDIR: `dejavu bench --model` with real selections (issue 19 item 6) on random-weight
# checkpoints of real OPT shapes (scripts/make_random_opt.py, fp16, drawn on the GPU), each with predictors
# trained on its own activations: a small collect (DEJAVU_MB_TOKENS of WikiText-2 valid, every 4th position of
# 1,024-token windows, no compression) and a short train on the GPU. The decoded text is WikiText-2 test, so the
# predictors select differently at every step and the timed step includes the K/V catch-up of re-selected
# heads. Both decode paths side by side; batch 1..32 on the first shape. Random weights have no contextual
# sparsity: the timings are real, the selections' quality is not the method's.
# Predictor ranks: the budget's per size (below), DEJAVU_MB_RANKS="MLP ATT" to override (0 0: train's defaults).
# Shapes: DEJAVU_DECODE_MODELS (default "opt-1.3b opt-6.7b opt-13b"); each checkpoint is deleted after its bench
# (opt-13b is 26 GB of the machine's 64 GB disk). Writes OUTDIR/<shape>/bench.{json,csv,log}.
# DEJAVU_MB_MLP_INPUTS (default "attn_input"): what the MLP predictors read, each trained and timed in turn on the
# same checkpoint and activations; the first into OUTDIR/<shape>, the others into OUTDIR/<shape>/mlp-<input>
# (batch 1), each with its train.log (the recall each input costs).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?usage: step_model_bench.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
W=${DEJAVU_MB_DIR:-/tmp/dejavu-model-bench}
DATA=${DEJAVU_DATA_DIR:-../shared/data}
DEJAVU=$PWD/build/dejavu
TOKENS=${DEJAVU_MB_TOKENS:-4096}
BATCHES=${DEJAVU_MB_BATCHES:-1,2,4,8,16,32}
mkdir -p "$W"
first=1
for shape in ${DEJAVU_DECODE_MODELS:-opt-1.3b opt-6.7b opt-13b}; do
  M=$W/models/$shape-random
  R=$W/$shape
  mkdir -p "$R" "$OUT/$shape"
  t0=$(date +%s)
  [ -f "$M/config.json" ] || python3 scripts/make_random_opt.py --shape "$shape" "$M" --device cuda --dtype float16 \
    --force >"$R/make.log" 2>&1 || { echo "model_bench $shape: make_random_opt failed"; tail -5 "$R/make.log"; continue; }
  t1=$(date +%s)
  "$DEJAVU" collect --model "$M" --device cuda --dtype float16 --text "$DATA/wikitext-2/valid.txt" --out "$R/acts.h5" \
    --max-tokens "$TOKENS" --seq-len 1024 --sample-every 4 --batch-windows 4 --compression none --force \
    >"$R/collect.log" 2>&1 || { echo "model_bench $shape: collect failed"; tail -5 "$R/collect.log"; continue; }
  t_collected=$(date +%s)
  # The ranks `dejavu bench` gives random predictors at --predictor-share 0.1 (engine/cuda/predictor_budget.h;
  # cuda_engine_tests' PredictorBudget test prints them): train's defaults (1000 / 512 on these sizes) read
  # 69% as many bytes as the sparse step on opt-1.3b (543 MB against 786 MB, GPU run of 9f274f8).
  case $shape in
    opt-1.3b) ranks="144 72" ;; opt-6.7b) ranks="240 120" ;; opt-13b) ranks="280 136" ;;
    opt-30b) ranks="384 192" ;; opt-66b) ranks="480 240" ;; *) ranks="0 0" ;;
  esac
  read -r rank_mlp rank_att <<<"${DEJAVU_MB_RANKS:-$ranks}"
  # The MLP predictor reads layer l's attention input by default (attn_input), the lookahead the built-in shapes'
  # random predictors use (decode_bench.cpp), so it runs on the side stream beside the attention block;
  # prev_mlp_input (layer l-1's MLP input) gives it a whole layer. train's default, mlp_input, exists only after
  # W_o: its z -> scores -> select chain then sits between W_o and the up projection of every layer (fa97b82,
  # opt-13b: x1.78 over dense against x2.31 with random lookahead predictors of the same sizes and catch-up).
  in_first=1
  for input in ${DEJAVU_MB_MLP_INPUTS:-${DEJAVU_MB_MLP_INPUT:-attn_input}}; do
    P=$R/pred-$input
    D=$OUT/$shape
    [ $in_first = 1 ] || D=$OUT/$shape/mlp-$input
    mkdir -p "$D"
    t2=$(date +%s)
    "$DEJAVU" train --acts "$R/acts.h5" --out "$P" --device cuda --epochs 2 --patience 1 --no-progress \
      --rank-mlp "$rank_mlp" --rank-att "$rank_att" --mlp-input "$input" \
      >"$D/train.log" 2>&1 || { echo "model_bench $shape ($input): train failed"; tail -5 "$D/train.log"; continue; }
    t3=$(date +%s)
    batches=1
    [ $first = 1 ] && [ $in_first = 1 ] && batches=$BATCHES
    "$DEJAVU" bench --model "$M" --predictors "$P" --text "$DATA/wikitext-2/test.txt" --densities 0.1 \
      --head-density 0.5 --decode-path graph,persistent --batch-sizes "$batches" --warmup 5 --gen-tokens 40 \
      --out "$D" >"$D/bench.log" 2>&1
    rc=$?
    t4=$(date +%s)
    echo "model_bench $shape (MLP predictors on $input): bench rc=$rc; make $((t1 - t0)) s, collect" \
      "$((t_collected - t1)) s, train $((t3 - t2)) s, bench $((t4 - t3)) s"
    grep -E "^\s*(dense|sparse)|catch|: runs (sparse|dense) \(" "$D/bench.log" | head -60
    in_first=0
  done
  rm -rf "$M" "$R/acts.h5"
  first=0
done
