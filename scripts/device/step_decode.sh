#!/usr/bin/env bash
# step_decode.sh OUTDIR: issue 19's checks and measurements of the decode step in one device call (H200, a built
# build/, repository root as cwd). Parts (DEJAVU_DECODE_PARTS, default all, in this order), each under its own
# time limit (seconds; a part that runs out loses only its own output):
#   tests      the decode step's GPU tests (limits DEJAVU_T_KT, _ET, _ET2, _DQ): kernel_tests (every op's case
#              table), cuda_engine_tests (graph and persistent paths against the reference and each other),
#              persistent_tests, then cuda_engine_tests again with the fused MLP flow (DEJAVU_FUSED_MLP=1) and
#              the dense QKV through the ops (DEJAVU_DENSE_QKV=ops), and the PDL and predictor tests with kernels
#              after event joins keeping PDL (DEJAVU_PDL_JOINS=wait, limit DEJAVU_T_PJ)
#   sanitize   compute-sanitizer memcheck, racecheck and synccheck over the new ops' tests
#   bench      `dejavu bench` on the built-in shapes, batch 1, MLP 10% / heads 50%: dense, sparse-fixed and
#              sparse + predictors, graph and persistent paths side by side; the same graph rows with the
#              A/B switches of DEJAVU_BENCH_VARIANTS (default "fused fixed"; see the loop) in bench/<variant>/
#   model      `dejavu bench --model` with real selections: random opt-1.3b / opt-6.7b / opt-13b checkpoints
#              (scripts/make_random_opt.py) with predictors trained on their own activations (a small collect +
#              train), batch 1..32 on opt-1.3b, both decode paths; catch-up positions per step in the rows
#   kernels    kernel_bench: fused MLP vs up + down vs cuBLAS, the predictor ops vs the previous chain
#   opbench    persistent_op_bench: W_o, fc1 and fc2 alone as their own kernels and inside the persistent kernel
#              (not in the default list: name it)
#   opprofile  ncu over persistent_op_bench's W_o, fc2 and fc1 chains (build target persistent_op_bench; not in
#              the default list): each op as its own kernels against the persistent kernel, with every warp stall
#   hf         scripts/bench_hf.py: Hugging Face eager and torch.compile on the same shapes
#   profile    ncu over a few graph-path steps of opt-13b (4 layers): each kernel's own time and DRAM bytes
#              (scripts/ncu_kernel_table.py), to split the per-layer overhead into slow kernels and launch gaps
# Each part writes OUTDIR/<part>/ and notes its rc and time in OUTDIR/summary.txt. Set DEJAVU_DECODE_SHAPES to
# change the built-in shapes (default opt-1.3b..opt-66b) and DEJAVU_DECODE_MODELS the --model shapes.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?usage: scripts/device/step_decode.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SUMMARY="$OUT/summary.txt"
PARTS=${DEJAVU_DECODE_PARTS:-tests sanitize bench model kernels hf profile}
has() { [[ " $PARTS " == *" $1 "* ]]; }
note() { echo "$*" | tee -a "$SUMMARY"; }
part() {  # part NAME LIMIT CMD...: CMD under its time limit, rc and seconds noted
  local name=$1 limit=$2 start=$(date +%s)
  shift 2
  timeout -k 10 "$limit" "$@"
  local rc=$?
  note "$name: rc=$rc in $(( $(date +%s) - start )) s (limit $limit s)"
  return $rc
}
DEJAVU=$PWD/build/dejavu
KT=build/tests/kernels/kernel_tests
ET=build/tests/cuda_engine/cuda_engine_tests
PT=build/tests/persistent/persistent_tests
DATA=${DEJAVU_DATA_DIR:-../shared/data}
note "step_decode at ${DEJAVU_COMMIT:-?} on $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null)"

gtest() {  # gtest NAME LIMIT BINARY [ARGS...]: one gtest binary, its failures in the summary
  local name=$1 limit=$2
  shift 2
  part "$name" "$limit" "$@" --gtest_brief=1 >"$OUT/tests/$name.log" 2>&1
  grep -E "^\[  FAILED  \]|^\[  PASSED  \]|tests? ran|Failure|error:" "$OUT/tests/$name.log" | head -20 | tee -a "$SUMMARY"
}
if has tests; then
  mkdir -p "$OUT/tests"
  gtest kernel_tests "${DEJAVU_T_KT:-150}" "$KT"
  gtest persistent_tests 30 "$PT"
  gtest cuda_engine_tests "${DEJAVU_T_ET:-200}" "$ET"
  DEJAVU_FUSED_MLP=1 gtest cuda_engine_fused "${DEJAVU_T_ET2:-90}" "$ET" --gtest_filter='Shapes/*:SparseEngine*:DenseEngine*'
  DEJAVU_DENSE_QKV=ops gtest cuda_engine_dense_qkv_ops "${DEJAVU_T_DQ:-60}" "$ET" --gtest_filter='*Dense*:*AllSelected*'
  DEJAVU_PDL_JOINS=wait gtest cuda_engine_pdl_joins "${DEJAVU_T_PJ:-30}" "$ET" --gtest_filter='*Pdl*:*Predictor*:*Crossover*'
  # The persistent suites under the persistent path's A/B switches: its sparse MLP as fused_mlp, the graph path's
  # fused flow's op (DEJAVU_PERSISTENT_MLP=fused; the default run above compares up + down against fused_mlp, the
  # same math summed in another order, so a test asserting identical selections may fail at a near-tie: read the
  # failure before calling it a bug), with the L2-only load policy (DEJAVU_PERSISTENT_LOADS=l2), with side
  # CTAs for the predictors (DEJAVU_PERSISTENT_SIDE_CTAS=26), and with the defaults before session 16: two down
  # units a CTA (DEJAVU_PERSISTENT_DOWN_UNITS=2), QKV on the row-major w_qkv (DEJAVU_PERSISTENT_QKV=rowmajor) and
  # the largest op's shared memory (DEJAVU_PERSISTENT_SMEM=max).
  DEJAVU_PERSISTENT_MLP=fused DEJAVU_PERSISTENT_LOADS=l2 DEJAVU_PERSISTENT_SIDE_CTAS=26 \
    DEJAVU_PERSISTENT_DOWN_UNITS=2 DEJAVU_PERSISTENT_QKV=rowmajor DEJAVU_PERSISTENT_SMEM=max \
    gtest cuda_engine_persistent_ab "${DEJAVU_T_PS:-90}" "$ET" --gtest_filter='*Persistent*'
  # The opt-ins together: session 14's MLP layer norm folded into the split MLP's up projection
  # (DEJAVU_PERSISTENT_MLP_LN=fold, RowGemvLnOp), select CTAs and early scores; session 15's dynamic units (its
  # one down unit a CTA and QKV on the tiled w_qkv are the defaults since session 16); session 16's down units'
  # L2 prefetch before their wait (DEJAVU_PERSISTENT_DOWN_PREFETCH=1).
  DEJAVU_PERSISTENT_MLP_LN=fold DEJAVU_PERSISTENT_SELECT_CTAS=2 DEJAVU_PERSISTENT_SCORES=early \
    DEJAVU_PERSISTENT_UNITS=dynamic DEJAVU_PERSISTENT_DOWN_PREFETCH=1 \
    gtest cuda_engine_persistent_opt_in "${DEJAVU_T_PS:-90}" "$ET" --gtest_filter='*Persistent*'
fi

if has sanitize && command -v compute-sanitizer >/dev/null; then
  mkdir -p "$OUT/sanitize"
  export DEJAVU_PERSISTENT_WATCHDOG_MS=600000
  KF=${DEJAVU_SAN_KERNEL_FILTER:-'*FusedMlp*:*Lowrank*:*Predictor*:SparseQkv*:DecodeAttention*:PersistentOps.*'}
  EF=${DEJAVU_SAN_ENGINE_FILTER:-'Shapes/PersistentShapeTest.*/d256*:PersistentEngine.GreedyTokensChainOnTheDevice'}
  for tool in memcheck synccheck; do
    part "san_${tool}_kernels" "${DEJAVU_T_SAN:-60}" compute-sanitizer --tool $tool --error-exitcode 1 "$KT" \
      --gtest_filter="$KF" --gtest_brief=1 >"$OUT/sanitize/${tool}_kernels.log" 2>&1
    grep -E "ERROR SUMMARY|RACECHECK SUMMARY|FAILED" "$OUT/sanitize/${tool}_kernels.log" | tail -3 | tee -a "$SUMMARY"
  done
  # racecheck tracks every shared-memory access and ran past 25 s on the whole kernel filter (fa97b82), so it
  # runs per kernel family on the first ten table cases (gtest's ? is one character: cases 0-9, odd sizes
  # among them), each group under its own limit: a slow group loses only its own verdict. The persistent QKV
  # entries (both layouts) first, alone: the whole qkv group ran out of 90 s in session 14.
  RACE_GROUPS=${DEJAVU_SAN_RACE_GROUPS:-"qkv_persistent=SparseQkvKernel.PersistentEntriesWriteTheDefaultsBits
qkv=SparseQkvKernel.CacheEqualsDenseAfterRandomSelections:SparseQkvKernel.VariantsWriteTheDefaultsBits
mlp=Cases/SparseMlpUpTest.MatchesReference/?:Cases/SparseMlpDownTest.MatchesReference/c?_*:Cases/FusedMlpTest.*/?
predictor=Cases/LowrankPredictorTest.*/?:Cases/LowrankSelectTest.*/?
attention=DecodeAttentionKernel.MatchesReference:PersistentOps.*"}
  while IFS='=' read -r group filter; do
    [ -n "$group" ] || continue
    part "san_racecheck_$group" "${DEJAVU_T_RACE:-40}" compute-sanitizer --tool racecheck \
      --error-exitcode 1 "$KT" --gtest_filter="$filter" --gtest_brief=1 >"$OUT/sanitize/racecheck_$group.log" 2>&1
    grep -E "RACECHECK SUMMARY|ERROR SUMMARY|FAILED|PASSED" "$OUT/sanitize/racecheck_$group.log" | tail -3 | tee -a "$SUMMARY"
  done <<<"$RACE_GROUPS"
  part san_memcheck_engine "${DEJAVU_T_SAN:-60}" compute-sanitizer --tool memcheck --error-exitcode 1 "$ET" \
    --gtest_filter="$EF" --gtest_brief=1 >"$OUT/sanitize/memcheck_engine.log" 2>&1
  grep -E "ERROR SUMMARY|FAILED" "$OUT/sanitize/memcheck_engine.log" | tail -3 | tee -a "$SUMMARY"
  unset DEJAVU_PERSISTENT_WATCHDOG_MS
fi

SHAPES=${DEJAVU_DECODE_SHAPES:-opt-1.3b,opt-6.7b,opt-13b,opt-30b,opt-66b}
if has bench; then
  mkdir -p "$OUT/bench"
  COMMON=(--shapes "$SHAPES" --batch-sizes 1 --head-density 0.5 --mlp-density 0.1 --densities 0.1
    --predictor-mlp-densities 0.1 --warmup 5 --gen-tokens 30)
  # --persistent-trace: one more step of each persistent row traced, bench/persistent_trace_<shape>_<row>.csv and
  # a per-op summary in bench.log (where the persistent step's time goes; kernels/persistent_decode/decode_trace.h).
  part bench "${DEJAVU_T_BENCH:-200}" "$DEJAVU" bench "${COMMON[@]}" --decode-path graph,persistent \
    --persistent-trace --out "$OUT/bench" >"$OUT/bench/bench.log" 2>&1
  grep -A12 "traced (one step" "$OUT/bench/bench.log" | grep -E "traced|^step|^  (op|qkv|mlp|attention|out_proj)" \
    | head -40 >>"$SUMMARY"
  tail -25 "$OUT/bench/bench.log" >>"$SUMMARY"
  # A/B runs of the graph rows, each with one switch (DEJAVU_BENCH_VARIANTS, default "fused fixed"), into
  # bench/<variant>/: fused = the fused MLP flow (DEJAVU_FUSED_MLP=1), pdl_joins = PDL kept after event joins
  # (DEJAVU_PDL_JOINS=wait; 62f2ef9: no change), fixed = sparse_mlp_down's fixed-point split sums
  # (DEJAVU_SPLIT_SUM=fixed, the default before the ordered sums measured faster), side_high = the predictors'
  # side stream at the highest priority (DEJAVU_SIDE_PRIORITY=high, the default before 497a573's A/B),
  # residual = the sparse step's residual-stream flow, no layer_norm kernel (DEJAVU_SPARSE_FLOW=residual;
  # 6800122: slower; since lnstats its fused layer norms read the producers' row partials), residual_rowpass =
  # the same with each fused layer norm reading its row (DEJAVU_LN_PARTIALS=0, 6800122's residual), qkv_prefetch = sparse_qkv's L2 prefetch of its slice (DEJAVU_QKV_PREFETCH=1),
  # qkv_pipe = sparse_qkv's plain pass software-pipelined in registers (DEJAVU_QKV_PIPE=1), qkv_pipe_loop = the
  # same with one wave of CTAs looping over the units, the next unit's loads ahead (+ DEJAVU_QKV_LOOP=1),
  # down_units = sparse_mlp_down with another plan target (DEJAVU_DOWN_UNITS=$DEJAVU_DOWN_UNITS_AB, default 528: the
  # two waves of units that were the default before c3c1098 measured one wave, 2 x SMs, faster), qkv_rowmajor =
  # sparse_qkv on the row-major w_qkv (DEJAVU_QKV_TILED=0; the tiled copies are the default since 24def80),
  # l2_warmup_units = the L2 warm-up of the next op's weights from warm units in front of attention, the layer norms
  # and the sparse up projection (DEJAVU_L2_WARMUP=units; 0697171, then the default: slower on every shape),
  # l2_warmup_branch = the same prefetches from a kernel on a forked stream (DEJAVU_L2_WARMUP=branch), _12mb with a
  # 12 MB budget instead of half the L2, _nodown without the up projection's prefetch of the down rows.
  # mlp_prev = the random MLP predictors read layer l-1's MLP input (--mlp-predictor-input prev_mlp_input), a layer
  # of slack on the side stream instead of the attention block's; pred_mlp_only / pred_heads_only = the predictor
  # rows with one block predicted and the other on its fixed subset (--predicted-blocks; fixed heads: no catch-up).
  # Variants on both paths (their persistent rows traced and paired with bench/'s in decode_goals' A/B table):
  # persistent_fused_mlp = the persistent path's sparse MLP as fused_mlp (DEJAVU_PERSISTENT_MLP=fused; up + down is
  # the default since session 14, 301cf2c's persistent_split_mlp), persistent_side_ab = side CTAs for the
  # predictors' ops (DEJAVU_PERSISTENT_SIDE_CTAS=$DEJAVU_SIDE_CTAS_AB, default 52; 59b3546: slower, the default is
  # none), persistent_l2_loads = the ops read what the step wrote through L2 only (DEJAVU_PERSISTENT_LOADS=l2, the
  # default before 59b3546's A/B; persistent_sync.cuh), persistent_mlp_ln_fold = the MLP layer norm folded into the
  # split MLP's up projection (DEJAVU_PERSISTENT_MLP_LN=fold), persistent_select2 = two CTAs that run the
  # predictors' select ops alone (DEJAVU_PERSISTENT_SELECT_CTAS=2), persistent_scores_early = each predictor's
  # scores right after its z op (DEJAVU_PERSISTENT_SCORES=early), persistent_select2_early = both,
  # persistent_qkv_rowmajor = the persistent path's QKV on the row-major w_qkv (DEJAVU_PERSISTENT_QKV=rowmajor; the
  # tiled copies are the default since session 16), persistent_down2 = two sparse_mlp_down units a CTA in the
  # persistent path (DEJAVU_PERSISTENT_DOWN_UNITS=2; one is the default since session 16),
  # persistent_dynamic = the wide ops' units grabbed by whichever CTA comes
  # (DEJAVU_PERSISTENT_UNITS=dynamic), persistent_smem_max = the persistent kernel launched with the largest op's
  # shared memory, not its schedule's (DEJAVU_PERSISTENT_SMEM=max; the schedule's is the default since session 16),
  # persistent_down_prefetch = W_o's and the down projection's units prefetch the rest of their rows into L2 before
  # their input wait (DEJAVU_PERSISTENT_DOWN_PREFETCH=1), persistent_env = both paths under DEJAVU_BENCH_ENV's
  # NAME=VALUE words (switches combined in one row; its README must say which).
  for variant in ${DEJAVU_BENCH_VARIANTS:-fused fixed}; do
    args_set=()
    paths=graph
    case $variant in
      mlp_prev) env_set= args_set=(--mlp-predictor-input prev_mlp_input) limit=${DEJAVU_T_BENCH3:-40} ;;
      pred_mlp_only) env_set= args_set=(--predicted-blocks mlp) limit=${DEJAVU_T_BENCH3:-40} ;;
      pred_heads_only) env_set= args_set=(--predicted-blocks heads) limit=${DEJAVU_T_BENCH3:-40} ;;
      persistent_fused_mlp) env_set=DEJAVU_PERSISTENT_MLP=fused paths=graph,persistent limit=${DEJAVU_T_BENCH2:-100} ;;
      persistent_mlp_ln_fold) env_set=DEJAVU_PERSISTENT_MLP_LN=fold paths=graph,persistent
        limit=${DEJAVU_T_BENCH2:-100} ;;
      persistent_select2) env_set=DEJAVU_PERSISTENT_SELECT_CTAS=2 paths=graph,persistent limit=${DEJAVU_T_BENCH2:-100} ;;
      persistent_scores_early) env_set=DEJAVU_PERSISTENT_SCORES=early paths=graph,persistent
        limit=${DEJAVU_T_BENCH2:-100} ;;
      persistent_select2_early) env_set="DEJAVU_PERSISTENT_SELECT_CTAS=2 DEJAVU_PERSISTENT_SCORES=early"
        paths=graph,persistent limit=${DEJAVU_T_BENCH2:-100} ;;
      persistent_l2_loads) env_set=DEJAVU_PERSISTENT_LOADS=l2 paths=graph,persistent limit=${DEJAVU_T_BENCH2:-100} ;;
      persistent_qkv_rowmajor) env_set=DEJAVU_PERSISTENT_QKV=rowmajor paths=graph,persistent
        limit=${DEJAVU_T_BENCH2:-100} ;;
      persistent_down2) env_set=DEJAVU_PERSISTENT_DOWN_UNITS=2 paths=graph,persistent limit=${DEJAVU_T_BENCH2:-100} ;;
      persistent_dynamic) env_set=DEJAVU_PERSISTENT_UNITS=dynamic paths=graph,persistent limit=${DEJAVU_T_BENCH2:-100} ;;
      persistent_down_prefetch) env_set=DEJAVU_PERSISTENT_DOWN_PREFETCH=1 paths=graph,persistent
        limit=${DEJAVU_T_BENCH2:-100} ;;
      persistent_smem_max) env_set=DEJAVU_PERSISTENT_SMEM=max paths=graph,persistent limit=${DEJAVU_T_BENCH2:-100} ;;
      persistent_env) env_set=${DEJAVU_BENCH_ENV:?persistent_env needs DEJAVU_BENCH_ENV} paths=graph,persistent
        limit=${DEJAVU_T_BENCH2:-100} ;;
      persistent_side_ab) env_set=DEJAVU_PERSISTENT_SIDE_CTAS=${DEJAVU_SIDE_CTAS_AB:-52} paths=graph,persistent
        limit=${DEJAVU_T_BENCH2:-100} ;;
      fused) env_set=DEJAVU_FUSED_MLP=1 limit=${DEJAVU_T_BENCH2:-100} ;;
      pdl_joins) env_set=DEJAVU_PDL_JOINS=wait limit=${DEJAVU_T_BENCH4:-40} ;;
      fixed) env_set=DEJAVU_SPLIT_SUM=fixed limit=${DEJAVU_T_BENCH3:-40} ;;
      side_high) env_set=DEJAVU_SIDE_PRIORITY=high limit=${DEJAVU_T_BENCH3:-40} ;;
      residual) env_set=DEJAVU_SPARSE_FLOW=residual limit=${DEJAVU_T_BENCH3:-40} ;;
      residual_rowpass) env_set="DEJAVU_SPARSE_FLOW=residual DEJAVU_LN_PARTIALS=0" limit=${DEJAVU_T_BENCH3:-40} ;;
      qkv_prefetch) env_set=DEJAVU_QKV_PREFETCH=1 limit=${DEJAVU_T_BENCH3:-40} ;;
      qkv_pipe) env_set=DEJAVU_QKV_PIPE=1 limit=${DEJAVU_T_BENCH3:-40} ;;
      qkv_pipe_loop) env_set="DEJAVU_QKV_PIPE=1 DEJAVU_QKV_LOOP=1" limit=${DEJAVU_T_BENCH3:-40} ;;
      down_units) env_set=DEJAVU_DOWN_UNITS=${DEJAVU_DOWN_UNITS_AB:-528} limit=${DEJAVU_T_BENCH3:-40} ;;
      qkv_rowmajor) env_set=DEJAVU_QKV_TILED=0 limit=${DEJAVU_T_BENCH3:-40} ;;
      l2_warmup_units) env_set=DEJAVU_L2_WARMUP=units limit=${DEJAVU_T_BENCH3:-40} ;;
      l2_warmup_branch) env_set=DEJAVU_L2_WARMUP=branch limit=${DEJAVU_T_BENCH3:-40} ;;
      l2_warmup_branch_12mb) env_set="DEJAVU_L2_WARMUP=branch DEJAVU_L2_WARMUP_MB=12" limit=${DEJAVU_T_BENCH3:-40} ;;
      l2_warmup_branch_nodown) env_set="DEJAVU_L2_WARMUP=branch DEJAVU_L2_WARMUP_DOWN=0" limit=${DEJAVU_T_BENCH3:-40} ;;
      *) echo "bench variant '$variant': expected fused, pdl_joins, fixed, side_high, residual, residual_rowpass," \
           "qkv_prefetch, qkv_pipe, qkv_pipe_loop, down_units, qkv_rowmajor, l2_warmup_units, l2_warmup_branch, l2_warmup_branch_12mb," \
           "l2_warmup_branch_nodown, mlp_prev, pred_mlp_only, pred_heads_only, persistent_fused_mlp, persistent_side_ab," \
           "persistent_mlp_ln_fold, persistent_select2, persistent_scores_early, persistent_select2_early," \
           "persistent_qkv_rowmajor, persistent_down2, persistent_dynamic, persistent_smem_max, persistent_env," \
           "persistent_down_prefetch or persistent_l2_loads" >>"$SUMMARY"
         continue ;;
    esac
    mkdir -p "$OUT/bench/$variant"
    # shellcheck disable=SC2086  # env_set: one or more NAME=VALUE words
    [ "$paths" = graph ] || args_set+=(--persistent-trace)
    part "bench_$variant" "$limit" env $env_set "$DEJAVU" bench "${COMMON[@]}" "${args_set[@]}" --decode-path "$paths" \
      --out "$OUT/bench/$variant" >"$OUT/bench/$variant/bench.log" 2>&1
    grep -E "^\| opt|dense|sparse" "$OUT/bench/$variant/bench.log" | tail -12 >>"$SUMMARY"
  done
fi

if has model; then
  mkdir -p "$OUT/model"
  part model "${DEJAVU_T_MODEL:-330}" bash scripts/device/step_model_bench.sh "$OUT/model" >"$OUT/model/model.log" 2>&1
  tail -30 "$OUT/model/model.log" >>"$SUMMARY"
fi

if has kernels && [ -x build/kernels/bench/kernel_bench ]; then
  mkdir -p "$OUT/kernels"
  part kernel_bench "${DEJAVU_T_KB:-90}" build/kernels/bench/kernel_bench --shapes opt-1.3b opt-13b opt-30b opt-66b \
    --batches 1 8 --densities 10 50 100 --reps 20 --out "$OUT/kernels" >"$OUT/kernels/kernel_bench.log" 2>&1
  tail -40 "$OUT/kernels/kernel_bench.log" >>"$SUMMARY"
  if [ -x build/kernels/bench/read_pattern_bench ]; then
    part read_pattern_bench 30 build/kernels/bench/read_pattern_bench >"$OUT/kernels/read_pattern_bench.log" 2>&1
    cat "$OUT/kernels/read_pattern_bench.log" >>"$SUMMARY"
  fi
fi

# opbench: decode ops alone as their own kernels and inside the persistent kernel (kernels/bench/persistent_op_bench.cpp;
# build target persistent_op_bench): whether an op is slower inside the kernel by itself or only beside the others.
if has opbench && [ -x build/kernels/bench/persistent_op_bench ]; then
  mkdir -p "$OUT/kernels"
  part persistent_op_bench "${DEJAVU_T_OPB:-60}" build/kernels/bench/persistent_op_bench \
    >"$OUT/kernels/persistent_op_bench.log" 2>&1
  cat "$OUT/kernels/persistent_op_bench.log" >>"$SUMMARY"
fi

# opprofile: ncu over persistent_op_bench's chains, one at a time: the op as its own kernels (unit_kernel) against
# the persistent kernel running a schedule of that op alone, with every warp-stall reason (ncu_kernel_table.py
# --stalls): why sparse_mlp_down streams 1.6-1.8x slower inside the persistent kernel where RowGemvOp (fc1) is
# within 15 % (544a0b5, H100). Few reps: ncu replays each launch.
if has opprofile && [ -x build/kernels/bench/persistent_op_bench ] && command -v ncu >/dev/null; then
  mkdir -p "$OUT/kernels/opprofile"
  # Chain names (persistent_op_bench --only texts), '|' between them.
  IFS='|' read -ra names <<<"${DEJAVU_OPPROF_CHAINS:-opt-13b W_o, 1 unit/CTA|opt-13b fc2, 1 unit/CTA|opt-13b fc1}"
  n=0
  for name in "${names[@]}"; do
    n=$((n + 1))
    rep="$OUT/kernels/opprofile/chain$n"
    part "opprofile_$n" "${DEJAVU_T_OPPROF:-60}" ncu -f -o "$rep" --section Occupancy --section WarpStateStats \
      --section LaunchStats --metrics gpu__time_duration.sum,dram__bytes_read.sum --kernel-name-base demangled \
      --kernel-name "regex:persistent_decode_kernel|unit_kernel" --launch-count 60 \
      build/kernels/bench/persistent_op_bench --only "$name" --reps 3 --warmup 0 >"$rep.log" 2>&1
    ncu --import "$rep.ncu-rep" --csv --page raw >"$rep.csv" 2>>"$rep.log"
    { echo "## $name"; python3 scripts/ncu_kernel_table.py "$rep.csv" --stalls --top 4; } >"$rep.md" 2>&1
    grep -vE '^\s*$' "$rep.md" | head -30 >>"$SUMMARY"
    rm -f "$rep.ncu-rep"
    gzip -f "$rep.csv"
  done
fi

if has hf; then
  mkdir -p "$OUT/hf"
  part bench_hf "${DEJAVU_T_HF:-170}" python3 scripts/bench_hf.py --out "$OUT/hf" --shapes opt-1.3b,opt-13b,opt-30b \
    --compile-shapes opt-1.3b,opt-13b --warmup 5 --iters 30 >"$OUT/hf/hf_bench.log" 2>&1
  grep -E '^\{' "$OUT/hf/hf_bench.log" | cut -c1-200 >>"$SUMMARY"
fi
if has profile && command -v ncu >/dev/null; then
  mkdir -p "$OUT/profile"
  # Serialized by ncu: each kernel's own time. Dense, sparse-fixed and sparse + predictors.
  # The sparse step's own kernels only: cuBLAS's dense GEMMs run at 93-98% of copy (9f274f8's profile), and the
  # layer norms and attention, which the dense rows also launch, used up 340f1ff's launch count before any
  # sparse row (6.9 and 11.9 us a launch there).
  # Since 62f2ef9: caches and clocks as in a bench run (not flushed, not locked), and the occupancy, warp-stall
  # and launch sections, so a slow kernel's table row says whether it lacks warps or waits on memory.
  part profile "${DEJAVU_T_PROF:-120}" ncu -f -o "$OUT/profile/rep" --cache-control none --clock-control none \
    --section Occupancy --section WarpStateStats --section LaunchStats --metrics gpu__time_duration.sum,dram__bytes_read.sum \
    --kernel-name-base demangled --kernel-name "regex:${DEJAVU_PROF_KERNEL_RE:-SparseQkv|KvCatchup|sparse_mlp|SparseMlp|row_dot|Lowrank|lowrank|Select|select|FusedMlp|fused_mlp}" \
    --launch-count "${DEJAVU_PROF_KERNELS:-2000}" "$DEJAVU" bench --shapes "${DEJAVU_PROF_SHAPE:-opt-13b}" --max-layers 4 \
    --batch-sizes 1 --densities 0.1 --predictor-mlp-densities 0.1 --head-density 0.5 --warmup 1 --gen-tokens 4 \
    --decode-path graph --out "$OUT/profile/bench" >"$OUT/profile/ncu.log" 2>&1
  ncu --import "$OUT/profile/rep.ncu-rep" --csv --page raw >"$OUT/profile/ncu.csv" 2>>"$OUT/profile/ncu.log"
  copy=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['copy_gbps'])" "$OUT/profile/bench/bench.json" 2>/dev/null || echo 0)
  python3 scripts/ncu_kernel_table.py "$OUT/profile/ncu.csv" --top 30 --copy-gbps "$copy" >"$OUT/profile/kernels.md" 2>&1
  head -36 "$OUT/profile/kernels.md" >>"$SUMMARY"
  rm -f "$OUT/profile/rep.ncu-rep"
  gzip -f "$OUT/profile/ncu.csv"  # 0.6-0.8 MB a profile; ncu_kernel_table.py reads the .gz
fi
cat "$SUMMARY"
