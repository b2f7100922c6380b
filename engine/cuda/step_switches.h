// step_switches.h: the decode step's flow choices and A/B switches, read from the environment when a step is
// recorded (i.e. when its CUDA graph is captured), so one build can time each side in one device call
// (scripts/device/step_decode.sh's bench variants). Each definition's comment says what was measured.
#pragma once

namespace dv::engine {

// DEJAVU_FUSED_MLP=1: the MLP blocks through fused_mlp (batch <= 8).
bool fused_mlp_enabled(int batch);
// DEJAVU_PERSISTENT_MLP=split|fused: the persistent path's sparse MLP blocks as up + down (default) or fused_mlp.
bool persistent_split_mlp();
// DEJAVU_PERSISTENT_MLP_LN=op|fold: the persistent path's MLP layer norm before a split sparse MLP as its own op
// (default) or folded into the up projection (RowGemvLnOp).
bool persistent_fold_mlp_ln();
// DEJAVU_PERSISTENT_SIDE_CTAS=N: the persistent path's CTAs reserved for the predictors' ops, of `ctas` (default
// 0: none; used only when the step has predictors).
int persistent_side_ctas(int ctas);
// DEJAVU_PERSISTENT_SELECT_CTAS=N: the persistent path's CTAs reserved for the predictors' select ops alone, of
// `ctas` (default 0; at most one of this and DEJAVU_PERSISTENT_SIDE_CTAS).
int persistent_select_ctas(int ctas);
// DEJAVU_PERSISTENT_SCORES=late|early: a predictor's scores op after the next layer op (default) or right after
// its z op.
bool persistent_early_scores();
// DEJAVU_PERSISTENT_DOWN_UNITS=1|2: sparse_mlp_down's units a CTA in the persistent path (W_o and the split MLP's
// down projection; default 1).
bool persistent_one_down_unit();
// DEJAVU_PERSISTENT_QKV=tiled|rowmajor: the persistent path's QKV and K/V catch-up on the sparse state's tiled copies
// where it has them (default; the qkv_tiled / kv_catchup_tiled op kinds) or on the row-major w_qkv.
bool persistent_tiled_qkv();
// DEJAVU_PERSISTENT_DOWN_PREFETCH=0|1: W_o's and the down projection's units in the persistent path prefetch the
// rest of their rows into L2 before their input wait (default off).
bool persistent_down_prefetch();
// DEJAVU_PERSISTENT_UNITS=static|dynamic: the persistent schedule's wide ops as fixed unit ranges a CTA (default)
// or grabbed by whichever CTA comes (decode_schedule.h's dynamic placement).
bool persistent_dynamic_units();
// DEJAVU_PERSISTENT_SMEM=plan|max: the persistent kernel's shared memory a CTA, the largest of the schedule's op
// kinds (default; the rest stays L1) or the largest op's.
bool persistent_plan_smem();
// DEJAVU_PERSISTENT_LOADS=l1|l2: the persistent kernel's ops read what the step wrote with weak loads L1 may cache
// (default) or through L2 only (persistent_sync.cuh).
bool persistent_l1_loads();
// DEJAVU_DENSE_QKV=ops|cublas: the dense step's QKV through sparse_qkv or cuBLAS (default: ops in the
// residual-stream flow).
bool dense_qkv_ops(bool stream);
// DEJAVU_SPARSE_FLOW=block_out|residual: the sparse step's flow on pre-LN models (sparse: a sparse step).
bool residual_sparse_flow(bool sparse, bool pre);
// DEJAVU_LN_PARTIALS=1|0: in the residual flow, the fused layer norms' statistics from their producer.
bool ln_partials_enabled();
// DEJAVU_QKV_PREFETCH=1: sparse_qkv's L2 prefetch of its weight slice (SparseQkvArgs::prefetch).
bool qkv_prefetch();
// DEJAVU_QKV_PIPE=1: sparse_qkv's plain pass software-pipelined in registers (SparseQkvArgs::pipelined).
bool qkv_pipelined();
// DEJAVU_QKV_LOOP=1: sparse_qkv as one wave of CTAs looping over its units (SparseQkvArgs::loop_units).
bool qkv_loop_units();
// DEJAVU_QKV_TILED=0: the sparse step's sparse_qkv and kv_catchup read the row-major w_qkv instead of the sparse
// state's tiled copies (tiled_qkv.h; on by default where memory allows).
bool qkv_tiled();
// The L2 warm-up of the next op's weights during the graph path's latency-bound ops (kernels/common/l2_warmup.cuh):
// off by default; DEJAVU_L2_WARMUP=units (warm units in front of the op) or =branch (a warm-up kernel on a forked
// stream beside it). Its budget: half the device's L2, or DEJAVU_L2_WARMUP_MB=N MB.
enum class L2WarmupMode { kOff, kUnits, kBranch };
L2WarmupMode l2_warmup_mode();
long long l2_warmup_budget();
// DEJAVU_L2_WARMUP_DOWN=0: no warm-up of the down projection's rows from the up projection (the rest stays).
bool l2_warmup_down();
// sparse_mlp_down's plan target on the graph path: one wave of two units an SM on num_sms SMs, or
// DEJAVU_DOWN_UNITS=N.
int down_target_units(int num_sms);

}  // namespace dv::engine
