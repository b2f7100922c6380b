// lowrank_predictor.cuh: the Deja Vu low-rank predictor for decode, as three work-unit ops (predictor_ops.cuh,
// select_op.cuh; predictor_plan.cuh builds them from these Args) with no host round trip, so it sits on a side
// stream inside the decode CUDA graph or in the persistent kernel:
//   1. z = x Wa^T                 [B, r] fp16   (Wa: [r, d], the first Linear's weight as PyTorch stores it)
//      split-K over d: each unit writes fp32 partials, the last of a row tile's splits sums them in split
//      order (deterministic) and rounds z to fp16 once.
//   2. logits = z Wb^T            (Wb: [n, r]) -> scores, fp32, and (top-k) a 4096-bin histogram of the top 12
//      bits of each score's order-preserving key, merged across units with global atomics.
//   3. selection: per selection row, the histogram fixes the k-th score's bin; one pass over the scores marks
//      the keys above that bin and collects the bin's few members, which a shared-memory radix select over the
//      remaining 20 bits resolves exactly; the row's winners become a bitmask. Rows are united through a
//      global bitmask whose last arriver writes the selection. No unit waits on another unit of its own op.
// Bytes that must move: (r*d + n*r)*2 weights (int8: (r*d + n*r) + 4*(r + n)) + B*d*2 (x) + B*r*(4*splits + 2)
// (z partials and z, L2) + rows*n*4*2 (scores written, read once) + idx 4*count; histograms 16 KB per row.
//
// Selection semantics (exact; the reference lowrank_select_ref is the specification):
// - top-k of a row: the k largest scores by score_order_key, ties at the k-th key to the lowest indices.
//   NaN ranks above +inf (any NaN, whatever its sign), -0 below +0.
// - threshold: sigmoid(score) >= t, i.e. score >= select_threshold_logit(t); NaN never passes.
// - batch rows (batch_union): kMaxLogit scores each neuron by its largest logit over the rows (NaN rows
//   ignored unless all are NaN) and selects once; kPerRow (top-k only) selects each row's own top-k and takes
//   the union. Threshold mode always unites by max: "any row passes" is exactly "the max passes".
// - output: the selected indices in ascending order, at most max_k of them (the lowest ones), k_dev = how many
//   were written; when the selected count exceeds dense_above, the selection is all n indices 0..n-1 instead
//   (the crossover to dense; needs max_k >= n).
// int8 weights (wa_i8/wb_i8 with per-row fp32 scales, instead of wa/wb): W[j, :] = scale[j] * Q[j, :], Q in
// [-127, 127] (quantize_rows_int8_ref), converted exactly to fp16 in registers, the scale applied to each
// row's fp32 sum.
// Requirements (checked, dv::Error): 1 <= B <= 32; d, r multiples of 8; x, Wa, Wb, z, scores 16-byte aligned
// (int8 rows and scales: 8- and 4-byte aligned); 1 <= n <= kSelectMaxN; either both fp16 weights or both
// int8 weights with their scales; top-k: top_k <= max_k; threshold: 0 < t < 1; dense_above < n needs
// max_k >= n; a workspace of lowrank_predictor_workspace_bytes() zeroed once after allocation (every launch
// leaves it zeroed). Launches that share a workspace, z, z_partials or scores must not run concurrently.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace dv::kernels {

enum class SelectMode { kTopK, kThreshold };
enum class BatchUnion { kMaxLogit, kPerRow };

constexpr int kSelectMaxN = 65536;  // selection bitmasks live in one unit's shared memory (OPT-175B: n = 49152)

struct LowrankSelectArgs {
  int* idx = nullptr;            // out: [max_k] selected indices, ascending
  int* k_dev = nullptr;          // out: device int, number of indices written
  const float* scores = nullptr; // [rows, ld] (ld = lowrank_scores_ld(n)); rows = 1 unless per-row
  void* workspace = nullptr;     // lowrank_select_workspace_bytes(rows, n): zero once, left zero
  int n = 0;
  int rows = 1;                  // selection rows united (kPerRow top-k: the batch)
  SelectMode mode = SelectMode::kTopK;
  int top_k = 0;                 // kTopK: how many to select per row (clamped to [0, n])
  float threshold = 0.5f;        // kThreshold: probability t, selects sigmoid(score) >= t
  int max_k = 0;                 // capacity of idx
  int dense_above = INT_MAX;     // a selected count above this selects all n (the crossover to dense)
};

struct LowrankPredictorArgs {
  int* idx = nullptr;            // out: [max_k]
  int* k_dev = nullptr;          // out: device int
  float* scores = nullptr;       // workspace: lowrank_predictor_scores_floats(B, n, union) fp32 logits
  __half* z = nullptr;           // workspace: [B, r]
  float* z_partials = nullptr;   // workspace: lowrank_predictor_partials_floats(B, d, r) (nullptr if 0)
  void* workspace = nullptr;     // lowrank_predictor_workspace_bytes(B, d, r, n): zero once, left zero
  const __half* x = nullptr;     // [B, d]
  const __half* wa = nullptr;    // [r, d]
  const __half* wb = nullptr;    // [n, r]
  const int8_t* wa_i8 = nullptr; // int8 variant: [r, d] with wa_scale [r] (then wa = wb = nullptr)
  const float* wa_scale = nullptr;
  const int8_t* wb_i8 = nullptr; // int8 variant: [n, r] with wb_scale [n]
  const float* wb_scale = nullptr;
  int B = 0;
  int d = 0;
  int r = 0;
  int n = 0;
  SelectMode mode = SelectMode::kTopK;
  int top_k = 0;
  float threshold = 0.5f;
  int max_k = 0;
  BatchUnion batch_union = BatchUnion::kMaxLogit;
  int dense_above = INT_MAX;
};

// Row stride of the scores (16-byte aligned rows for vector loads).
inline int lowrank_scores_ld(int n) { return (n + 3) / 4 * 4; }
// Selection rows: B for per-row top-k, else 1.
inline int lowrank_selection_rows(int B, SelectMode mode, BatchUnion u) {
  return mode == SelectMode::kTopK && u == BatchUnion::kPerRow ? B : 1;
}
inline size_t lowrank_predictor_scores_floats(int B, int n, SelectMode mode, BatchUnion u) {
  return static_cast<size_t>(lowrank_selection_rows(B, mode, u)) * lowrank_scores_ld(n);
}
// Workspace bytes (histograms, union bitmask, arrival counters): every launch leaves them zero, so one
// workspace of the largest size serves predictors of several shapes run one after another.
size_t lowrank_predictor_workspace_bytes(int B, int d, int r, int n);
size_t lowrank_select_workspace_bytes(int rows, int n);
// fp32 split-K partials of z, [splits, B, r]; 0 when d fits one split. Overwritten, never needs zeroing.
size_t lowrank_predictor_partials_floats(int B, int d, int r);

// The selection stage of a predictor call: its outputs, sizes and rule over the predictor's scores.
inline LowrankSelectArgs lowrank_selection_of(const LowrankPredictorArgs& a) {
  LowrankSelectArgs s;
  s.idx = a.idx;
  s.k_dev = a.k_dev;
  s.scores = a.scores;
  s.workspace = a.workspace;
  s.n = a.n;
  s.rows = lowrank_selection_rows(a.B, a.mode, a.batch_union);
  s.mode = a.mode;
  s.top_k = a.top_k;
  s.threshold = a.threshold;
  s.max_k = a.max_k;
  s.dense_above = a.dense_above;
  return s;
}

void launch_lowrank_predictor(const LowrankPredictorArgs& args, cudaStream_t stream);
// Throws dv::Error on arguments launch_lowrank_predictor would reject (host-only check, no launch).
void check_lowrank_predictor_args(const LowrankPredictorArgs& args);
// Stage 3 alone (histogram + selection) over given scores: oracle masks, tests.
void launch_lowrank_select(const LowrankSelectArgs& args, cudaStream_t stream);
// Throws dv::Error on arguments launch_lowrank_select would reject (host-only check, no launch).
void check_lowrank_select_args(const LowrankSelectArgs& args);

// The previous version (three plain launches: two row_dot GEMVs, a one-block radix select; max-over-batch
// union only, no crossover; the same arguments, its workspaces unused), kept so that kernel_bench times the two
// side by side.
void launch_lowrank_predictor_chain(const LowrankPredictorArgs& args, cudaStream_t stream);

// The selection's shared conventions, for the kernel and the reference alike.
#if defined(__CUDACC__)
#define DV_SELECT_HD __host__ __device__
#else
#define DV_SELECT_HD
#endif

// Monotone map of fp32 to uint32: a < b as floats (and -0 < +0) iff key(a) < key(b); every NaN maps to the
// largest key.
DV_SELECT_HD inline uint32_t score_order_key(float f) {
#if defined(__CUDA_ARCH__)
  const uint32_t u = __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
#endif
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0xFFFFFFFFu;
  return u ^ ((u >> 31) != 0u ? 0xFFFFFFFFu : 0x80000000u);
}

#undef DV_SELECT_HD

// The logit the threshold rule compares against: sigmoid(s) >= t  <=>  s >= log(t / (1 - t)).
inline float select_threshold_logit(float t) {
  return static_cast<float>(std::log(static_cast<double>(t) / (1.0 - static_cast<double>(t))));
}

}  // namespace dv::kernels
