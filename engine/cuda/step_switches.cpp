// step_switches.cpp: see step_switches.h.
#include "engine/cuda/step_switches.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <cuda_runtime_api.h>

#include "kernels/common/cuda_check.h"
#include "kernels/common/error.h"
#include "kernels/sparse_mlp_down/sparse_mlp_down.cuh"

namespace dv::engine {
namespace {

// Whether the environment sets `name` to exactly `value`.
bool env_is(const char* name, const char* value) {
  const char* env = std::getenv(name);
  return env != nullptr && std::strcmp(env, value) == 0;
}

// A switch with two values: false when `name` is unset, empty or `default_value`, true when it is `other`;
// anything else is refused with a line naming the variable and both values.
bool env_other(const char* name, const char* default_value, const char* other) {
  const char* env = std::getenv(name);
  if (env == nullptr || *env == '\0' || std::strcmp(env, default_value) == 0) return false;
  DV_CHECK(std::strcmp(env, other) == 0, "{}='{}': expected {} (the default) or {}", name, env, default_value, other);
  return true;
}

// A count of CTAs from `name`: 0 when unset or empty, else 0..ctas - 1.
int env_ctas(const char* name, int ctas) {
  const char* env = std::getenv(name);
  if (env == nullptr || *env == '\0') return 0;
  char* end = nullptr;
  const long n = std::strtol(env, &end, 10);
  DV_CHECK(end != nullptr && *end == '\0' && n >= 0 && n < ctas, "{}='{}': expected a number of CTAs from 0 to {}",
           name, env, ctas - 1);
  return static_cast<int>(n);
}

}  // namespace

// The MLP path: cuBLAS (dense) or sparse up + down by default; DEJAVU_FUSED_MLP=1 takes fused_mlp (fc1 + ReLU
// + fc2 of a neuron slice in one op, with the residual-stream flow) up to batch 8. The first H100 run
// (session 7, opt-13b and opt-1.3b, batch 1) measured the fused flow slower than this one, dense 12.8 against
// 10.2 ms and sparse 4.66 against 4.03 ms on opt-13b, so it is opt-in until it wins. Read when a step is
// recorded (i.e. when a graph is captured), so one build can time both.
bool fused_mlp_enabled(int batch) { return env_is("DEJAVU_FUSED_MLP", "1") && batch <= 8; }

// The persistent path's sparse MLP blocks: two ops by default, the up projection (RowGemvOp over the selection,
// bias + ReLU, into compact activations) and sparse_mlp_down, the graph path's split; DEJAVU_PERSISTENT_MLP=fused
// takes fused_mlp. Measured inside the persistent kernel (H100, 301cf2c, batch 1, MLP 10 % / heads 50 %): opt-13b
// sparse fixed 6.297 ms split against 8.660 fused, sparse + predictors 8.242 against 11.016; the sparse rows of
// every shape 15-30 % faster (the trace: fused_mlp ran 113 us a layer on opt-13b inside the kernel, 69 alone).
// Read when the persistent plan is built.
bool persistent_split_mlp() { return !env_other("DEJAVU_PERSISTENT_MLP", "split", "fused"); }

// The persistent path's MLP layer norm before a split sparse MLP (pre-LN models): its own op by default, or under
// DEJAVU_PERSISTENT_MLP_LN=fold computed by every unit of the up projection from the residual stream
// (RowGemvLnOp): one op and one wait fewer a layer. Why: session 14's trace (H200, 59b3546, opt-13b) ran the
// one-row layer norm op 8.9 us a layer on the critical chain. Not yet run on a GPU. Read when the plan is built.
bool persistent_fold_mlp_ln() { return env_other("DEJAVU_PERSISTENT_MLP_LN", "op", "fold"); }

// The persistent path's side CTAs (decode_schedule.h): none by default (the predictors' ops spread over every CTA),
// or DEJAVU_PERSISTENT_SIDE_CTAS=N reserved for them. Measured on an H200 (59b3546, batch 1, MLP 10 % / heads
// 50 %): opt-13b sparse + predictors 7.874 ms over every CTA, 14.567 with 26 side CTAs (a tenth), 9.434 with 52;
// every shape the same way. The 1,280 small scores units and the one-CTA select run far slower on a few CTAs
// than the delay they cause the main chain's CTAs when spread.
int persistent_side_ctas(int ctas) { return env_ctas("DEJAVU_PERSISTENT_SIDE_CTAS", ctas); }

// The persistent path's select CTAs: N CTAs that run the predictors' select ops and nothing else, under
// DEJAVU_PERSISTENT_SELECT_CTAS=N (default 0). Why: session 14's traces (H200, 59b3546, opt-13b) put the MLP
// predictor's chain on the critical path with the select (one CTA, 40 us a layer) run by a CTA that first
// finishes its own W_o units, i.e. after the attention block; on a CTA of its own it can start when the scores
// are done. Not yet run on a GPU. Read when a persistent decoder is built.
int persistent_select_ctas(int ctas) { return env_ctas("DEJAVU_PERSISTENT_SELECT_CTAS", ctas); }

// A predictor's scores op in the persistent plan: after the next layer op by default (its CTAs' main-chain units
// first), or under DEJAVU_PERSISTENT_SCORES=early right after its z op (every CTA runs its scores units before the
// layer's QKV units: about 5 us of the QKV's start on opt-13b for the select's 40 us head start). Not yet run on a
// GPU. Read when the plan is built.
bool persistent_early_scores() { return env_other("DEJAVU_PERSISTENT_SCORES", "late", "early"); }

// sparse_mlp_down's plan target in the persistent path (W_o and the split MLP's down projection): one unit a CTA
// by default, or two under DEJAVU_PERSISTENT_DOWN_UNITS=2 (twice the splits, each unit a loop half as long).
// Measured (H100, 544a0b5, results/h100/2026-12-08_544a0b5): persistent_op_bench's ops alone inside the kernel 11-25 %
// faster at one unit (opt-13b W_o 30.8 -> 23.9 us, fc2 29.4 -> 22.1; opt-66b fc2 45.1 -> 40.1), and every sparse
// persistent row of the step faster (opt-13b sparse fixed 6.102 -> 5.410 ms, sparse + predictors 8.286 -> 7.509).
bool persistent_one_down_unit() { return !env_other("DEJAVU_PERSISTENT_DOWN_UNITS", "1", "2"); }

// The persistent path's QKV and K/V catch-up: on the sparse state's tiled copies (tiled_qkv.h) where it has them
// by default, through op kinds of their own, or under DEJAVU_PERSISTENT_QKV=rowmajor on the row-major w_qkv.
// Measured (H100, 544a0b5): opt-13b persistent sparse fixed 6.102 -> 5.968 ms (3.4 us a layer), sparse + predictors
// 8.286 -> 8.129, opt-30b sparse fixed 10.414 -> 10.179; the graph rows unchanged. Read when the plan is built.
bool persistent_tiled_qkv() { return !env_other("DEJAVU_PERSISTENT_QKV", "tiled", "rowmajor"); }

// W_o's and the down projection's units in the persistent path: under DEJAVU_PERSISTENT_DOWN_PREFETCH=1 each asks
// L2 for the rest of its row segments before its input wait (SparseMlpDownArgs::prefetch_unit), off by default.
// Why: session 14's trace had the first CTAs reach W_o a median 20 us before its inputs were ready, and
// persistent_op_bench (H100, 8ad1ce0) still times sparse_mlp_down 1.5x slower inside the kernel than as its own
// kernels; a unit's loads before the wait cover only its first 32 rows. Not yet run on a GPU. Read when the plan
// is built.
bool persistent_down_prefetch() { return env_other("DEJAVU_PERSISTENT_DOWN_PREFETCH", "0", "1"); }

// The persistent schedule's placement of the layer ops with at least as many units as CTAs (the predictors' stay
// fixed): fixed ranges (default) or, under DEJAVU_PERSISTENT_UNITS=dynamic, one dynamic instruction on every CTA
// that grabs units until none is left (decode_schedule.h). Why: in session 14's trace (H200, 59b3546, opt-13b
// sparse fixed) every wide op ran from its inputs to its last unit two to six times its bytes' time at copy speed,
// and an op ends with its latest CTA: with fixed ranges a CTA delayed by earlier work delays the op by its whole
// share. Not yet run on a GPU.
bool persistent_dynamic_units() { return env_other("DEJAVU_PERSISTENT_UNITS", "static", "dynamic"); }

// The persistent kernel's dynamic shared memory a CTA: by default the largest of the schedule's op kinds, so that
// the SM keeps the rest of its unified L1 / shared memory as L1 (the QKV op's 66.5 KB in a sparse step; a dense step
// runs fused_mlp, 96 KB, as before), or under DEJAVU_PERSISTENT_SMEM=max the largest op's whatever the schedule.
// Why: ncu on persistent_op_bench (H100, 0712945) had sparse_mlp_down's chains inside the kernel at twice the
// long-scoreboard stall of its own kernels (W_o 4.99 against 2.55 warps an issue), which run with 16 bytes of shared
// memory a CTA. Measured (H100, 8ad1ce0, results/h100/2026-12-08_8ad1ce0): the ops alone inside the kernel 1-9 %
// faster (opt-13b W_o at one unit a CTA 23.76 -> 22.27 us, fc2 22.15 -> 20.24), the step's sparse persistent rows
// 1-2 % (opt-13b sparse fixed 5.284 -> 5.179 ms, sparse + predictors 7.407 -> 7.289), dense and graph unchanged.
bool persistent_plan_smem() { return !env_other("DEJAVU_PERSISTENT_SMEM", "plan", "max"); }

// The persistent kernel's load policy for what the step wrote (activations, selections): plain weak loads that L1
// may cache by default, or ld.global.cg under DEJAVU_PERSISTENT_LOADS=l2 (persistent_sync.cuh says why both are
// valid). Measured on an H200 (59b3546): opt-13b persistent sparse fixed 5.645 ms against 5.978 with .cg, sparse +
// predictors 7.640 against 7.880, dense 19.293 against 20.604; opt-66b sparse fixed 17.374 against 19.266; every
// persistent row 3-10 % faster, the graph rows unchanged. Read when a persistent decoder is built.
bool persistent_l1_loads() { return !env_other("DEJAVU_PERSISTENT_LOADS", "l1", "l2"); }

// The dense step's QKV: through sparse_qkv with every head selected (one kernel: the projection, bias, q and
// the K/V rows at pos; in the residual-stream flow also the layer norm) or the cuBLAS GEMM + kv_append (after
// a layer_norm kernel). DEJAVU_DENSE_QKV=ops or =cublas forces either (read when a step is recorded, i.e.
// captured); by default the residual-stream flow (`stream`) takes the op, the other flows cuBLAS.
bool dense_qkv_ops(bool stream) {
  if (env_is("DEJAVU_DENSE_QKV", "ops")) return true;
  if (env_is("DEJAVU_DENSE_QKV", "cublas")) return false;
  return stream;
}

// The sparse step's flow on pre-LN models: the block_out flow (each block's bare product, then a layer_norm
// kernel that adds bias and residual and normalizes), or, with DEJAVU_SPARSE_FLOW=residual, the residual stream
// (no layer_norm kernel: the QKV op and the up projection normalize their inputs themselves, W_o and the down
// projection add bias and residual; two kernels a layer fewer). The residual flow was slower on the H100
// (results/h100/2026-12-07_6800122: opt-13b sparse + predictors x2.03 against x2.13 over dense, opt-66b x2.47
// against x2.67): each fused layer norm adds 5-7 us to its op (kernel_bench: sparse_qkv+ln), more than the
// layer_norm kernel it replaces. Read when a step is recorded.
bool residual_sparse_flow(bool sparse, bool pre) {
  const char* env = std::getenv("DEJAVU_SPARSE_FLOW");
  const bool residual = env != nullptr && std::strcmp(env, "residual") == 0;
  DV_CHECK(env == nullptr || *env == '\0' || residual || std::strcmp(env, "block_out") == 0,
           "DEJAVU_SPARSE_FLOW='{}': expected block_out (the default) or residual", env);
  return sparse && pre && residual;
}

// In the residual flow, the fused layer norms' row statistics from their input's producer: W_o and the MLP
// down (sparse_mlp_down) write each output row's per-slice sum and sum of squares (row_partials), and the up
// projection and the next layer's QKV sum those col_blocks pairs instead of reading the row again (5-7 us an op
// on opt-13b, H100 6800122). DEJAVU_LN_PARTIALS=0 turns it off (the consumers' own pass over x): an A/B switch.
// Read when a step is recorded.
bool ln_partials_enabled() {
  const char* env = std::getenv("DEJAVU_LN_PARTIALS");
  DV_CHECK(env == nullptr || *env == '\0' || std::strcmp(env, "0") == 0 || std::strcmp(env, "1") == 0,
           "DEJAVU_LN_PARTIALS='{}': expected 1 (the default) or 0", env);
  return env == nullptr || std::strcmp(env, "0") != 0;
}

// sparse_qkv's L2 prefetch of its weight slice (SparseQkvArgs::prefetch, off by default: slower in kernel_bench
// on every shape, 6800122); DEJAVU_QKV_PREFETCH=1 turns it on, for step_decode.sh's A/B (bench/qkv_prefetch).
bool qkv_prefetch() { return env_is("DEJAVU_QKV_PREFETCH", "1"); }

// sparse_qkv's plain pass with the next round of weight loads issued before this round's MMAs
// (SparseQkvArgs::pipelined) and, with DEJAVU_QKV_LOOP=1, one wave of CTAs looping over the units with the next
// unit's slice and first loads ahead of the current one's epilogue (SparseQkvArgs::loop_units). Both slower on
// the H100 (c3c1098: opt-13b sparse + predictors 4.418 and 4.577 ms against 4.374), so opt-in:
// DEJAVU_QKV_PIPE=1 (bench/qkv_pipe), + DEJAVU_QKV_LOOP=1 (bench/qkv_pipe_loop). Read when a step is recorded.
bool qkv_pipelined() { return env_is("DEJAVU_QKV_PIPE", "1"); }
bool qkv_loop_units() { return env_is("DEJAVU_QKV_LOOP", "1"); }
// The tiled copies of w_qkv (tiled_qkv.h) by default since 24def80's A/B (H100, bench/qkv_tiled there: sparse
// fixed opt-13b 3.642 against 3.742 ms, opt-30b 6.915 against 7.247; sparse + predictors opt-30b 7.762 against
// 8.000). DEJAVU_QKV_TILED=0 (bench/qkv_rowmajor) reads the row-major w_qkv; read when the sparse state is made.
bool qkv_tiled() { return !env_is("DEJAVU_QKV_TILED", "0"); }

// sparse_mlp_down's plan target on the graph path (W_o and the MLP down projection): one wave of two units an SM
// (fewer, longer units than the kernel's default two waves: c3c1098 on an H100, opt-13b sparse + predictors
// x2.40 against x2.35 with two waves, kernel_bench opt-13b 10 % 17.3 against 19.6 us). DEJAVU_DOWN_UNITS=N
// (1..kSparseMlpDownTargetUnits) sets another target (528: the two waves of before); read when a step is recorded.
int down_target_units(int num_sms) {
  const char* env = std::getenv("DEJAVU_DOWN_UNITS");
  if (env == nullptr || *env == '\0') return std::clamp(2 * num_sms, 1, kernels::kSparseMlpDownTargetUnits);
  char* end = nullptr;
  const long v = std::strtol(env, &end, 10);
  DV_CHECK(*end == '\0' && v >= 1 && v <= kernels::kSparseMlpDownTargetUnits,
           "DEJAVU_DOWN_UNITS='{}': expected a number of units in 1..{}", env, kernels::kSparseMlpDownTargetUnits);
  return static_cast<int>(v);
}

// The L2 warm-up (decode_step.cpp): attention prefetches W_o at the selected heads, the layer norm before the MLP
// the up projection's fc1 rows, the one before a layer's QKV its w_qkv rows, the sparse up projection the down
// projection's rows, each up to half the L2 (25 MB of the H100's 50). Off by default: the first H100 run
// (results/h100/2026-12-07_0697171) measured warm units in front of the ops slower on every shape (opt-13b sparse
// + predictors 5.376 against 4.147 ms, dense 10.892 against 9.923: the next kernel's PDL wait covers the warm
// units, so the prefetches ran in series with the ops); `branch`, the same prefetches from a kernel on a forked
// stream, too (results/h100/2026-12-07_988be20: opt-13b sparse + predictors 5.513 against 4.159 ms, dense 10.015
// against 9.960: its CTAs likely take slots from the one-wave sparse kernels). Read when a step is recorded.
L2WarmupMode l2_warmup_mode() {
  const char* env = std::getenv("DEJAVU_L2_WARMUP");
  if (env == nullptr || *env == '\0' || std::strcmp(env, "0") == 0) return L2WarmupMode::kOff;
  if (std::strcmp(env, "units") == 0) return L2WarmupMode::kUnits;
  DV_CHECK(std::strcmp(env, "branch") == 0, "DEJAVU_L2_WARMUP='{}': expected 0 (the default), units or branch", env);
  return L2WarmupMode::kBranch;
}

long long l2_warmup_budget() {
  if (l2_warmup_mode() == L2WarmupMode::kOff) return 0;
  const char* env = std::getenv("DEJAVU_L2_WARMUP_MB");
  if (env != nullptr && *env != '\0') {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    DV_CHECK(*end == '\0' && v >= 0 && v <= 4096, "DEJAVU_L2_WARMUP_MB='{}': expected a size in MB, 0..4096", env);
    return static_cast<long long>(v) << 20;
  }
  int device = 0, l2 = 0;
  DV_CUDA_CHECK(cudaGetDevice(&device));
  DV_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device));
  return l2 / 2;
}

// The sparse up projection also warms the down projection's fc2^T rows at its neurons: it reads 10 % of fc1 at
// about half the copy bandwidth (kernel_bench), so DRAM has room beside it. DEJAVU_L2_WARMUP_DOWN=0 turns that
// piece off (step_decode.sh's l2_warmup_nodown).
bool l2_warmup_down() { return !env_is("DEJAVU_L2_WARMUP_DOWN", "0"); }

}  // namespace dv::engine
