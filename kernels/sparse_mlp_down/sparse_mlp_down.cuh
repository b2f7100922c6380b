// sparse_mlp_down.cuh: fc2 over a selection of neurons plus bias and residual, in one kernel, no gather copy.
//   out[b, :] = resid[b, :] + b2[:] + sum_{q < k*R} h[b, q] * W2T[row(q), :],   row(q) = idx[q / R] * R + q % R
// W2T is fc2's weight transposed, [ffn_rows, d] row-major, so a selected neuron's weights are one contiguous
// row. R = rows_per_index: 1 for MLP neurons; head_dim for the attention output projection, where idx lists
// heads and W2T = Wo^T, so each index selects a block of R consecutive rows (h then holds k*R values per b).
// k lives on the device (k_dev, clamped to [0, max_k]); the grid is sized from max_k. idx may be unsorted and
// may repeat (a repeated row is added twice); idx[j >= k] and h[b, q >= k*R] are never read.
//
// Access pattern: a warp owns 64 output columns; lane (g, t) streams 16 bytes (columns 8g..8g+7) from four
// consecutive selected rows 4t..4t+3 of each 16-row step, so each selected row segment is read as one
// 128-byte line by 8 lanes, once for all B rows of h (tensor-core MMA, fp32 accumulation; the four rows are
// transposed into k-pairs in registers with byte permutes). A unit (work_units.cuh; sparse_mlp_down_op.cuh) is
// 8 warps = 512 columns; the selected rows are split over `splits` units, each accumulating its rows in
// registers. The unit's first weight loads are issued before its input wait (they need the selection only).
// Combining the splits (when splits > 1), two deterministic schemes (args.ordered_sums picks; the engine reads
// DEJAVU_SPLIT_SUM=fixed|ordered), both finished by the last unit through a 512-column slice (an arrival counter
// per slice, which it resets), which adds bias and residual and writes out in fp16:
//   fixed (default): each unit adds its fp32 partials into a workspace [B, d] of 64-bit fixed-point sums
//     (kernels/common/fixed_sum.cuh: integer reductions, four 8-byte atomics per 4 outputs; the bits do not
//     depend on the order the splits arrive in); the last unit reads its slice and zeroes it, so the workspace
//     is all zero between launches (CUDA-graph safe, one launch).
//   ordered: each unit stores its fp32 partials with plain 16-byte stores into its own rows of a partials area
//     [splits][B][d] (no data atomics); the last unit sums the non-empty splits in split order (a fixed order:
//     the same bits whatever the arrival order; at B < 4 the CTA's threads take fixed ranges of splits and the
//     ranges are added in order). The area needs no zeroing; it lies after the fixed scheme's sums and counters,
//     which it leaves zero, so one workspace sized for ordered serves both schemes.
// Bytes that must move: k*R*d*2 (W2T rows) + B*k*R*2 (h) + k*4 (idx) + d*2 (b2) + B*d*2 (resid) + B*d*2 (out),
// plus, mostly absorbed by L2, splits*B*d*8 of fixed-point reductions (fixed) or splits*B*d*4 stored and the
// same read back by the slices' last units (ordered); the plan bounds splits*B*8 to <= 1/2 of the weight bytes
// at k = max_k, for both schemes alike.
// Row statistics for a fused layer norm downstream (optional, row_partials): for each 512-column slice c and
// batch row b, row_partials[c][b] = (sum, sum of squares) in fp32 of the slice's FINAL fp16 outputs (the rounded
// values in out), written by the unit that writes the slice (splits == 1: the slice's one unit; else its last
// unit, in either scheme) in a fixed order (items of 8 columns, a warp per row adds them as lane l: items l and
// l + 32, then a butterfly): the same bits every launch. A consumer sums the col_blocks slices in slice order
// for a row's mean and variance (qkv_layer_norm.cuh's row_stats_from_partials) instead of reading the row.
// Costs per slice unit one 8-float shared-memory store per item and a barrier; bytes: + col_blocks*B*8 (out).
// A separate instantiation (SparseMlpDownOp's kRowStats), so the launch without it runs the same code as before.
// The same op runs in the persistent decode kernel (h, idx and k through the Sync's load policy).
// Requirements (checked, dv::Error): 1 <= B <= 32, d % 8 == 0, W2T/resid/b2/out 16-byte aligned,
// ld_h >= max_k * R with ld_h % 4 == 0 and h 8-byte aligned, a workspace of
// sparse_mlp_down_workspace_bytes() (for the args' scheme) zeroed once after allocation.
// out may alias resid (each element is read and written by the same thread).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include "kernels/common/fixed_sum.cuh"

#include <cstddef>

namespace dv::kernels {

constexpr int kSparseMlpDownWarpCols = 64;   // output columns per warp
constexpr int kSparseMlpDownUnitCols = 512;  // per unit (8 warps)
// Units the plan aims for: two waves at two resident units per SM on a 132-SM H100.
constexpr int kSparseMlpDownTargetUnits = 528;

struct SparseMlpDownArgs {
  __half* out = nullptr;          // out: [B, d]
  void* workspace = nullptr;      // sparse_mlp_down_workspace_bytes(); zero once, left zero by every launch
  const __half* resid = nullptr;  // [B, d], or nullptr
  const __half* b2 = nullptr;     // [d], or nullptr
  const __half* h = nullptr;      // [B, ld_h]
  const __half* w2t = nullptr;    // [ffn_rows, d]
  const int* idx = nullptr;       // [max_k], each in [0, ffn_rows / R)
  const int* k_dev = nullptr;     // device int: number of valid idx entries; nullptr: max_k
  int B = 0;
  int d = 0;
  int ffn_rows = 0;               // rows of W2T (the reference checks indices against it)
  int max_k = 0;
  int ld_h = 0;
  int rows_per_index = 1;
  bool ordered_sums = false;      // splits combined through ordered fp32 partials, not fixed-point reductions
  // Units the launch's plan aims for: 0 = kSparseMlpDownTargetUnits (two waves of two units an SM on 132 SMs);
  // fewer means fewer, longer units (fewer splits, fewer partials to finish). At most the default, so a workspace
  // sized for the default plan serves any value. An A/B knob (kernel_bench down_ordered_u* rows, the engine's
  // DEJAVU_DOWN_UNITS).
  int target_units = 0;
  float* row_partials = nullptr;  // [col_blocks][B][2] fp32 (sum, sum of squares) of out's slices, or nullptr;
                                  // 8-byte aligned; the graph launch only (not the persistent kernel's op)
  // The persistent kernel's op only (a Sync with kPrefetchesUnits; the graph launch compiles no such code): before
  // its input wait a unit asks L2 for the rest of its rows' segments (one bulk prefetch a row, past the rows its
  // first loads already cover), so that a CTA which reaches the op early streams its weights while it waits. A
  // hint: results do not change. DEJAVU_PERSISTENT_DOWN_PREFETCH=1 (an A/B switch, engine/cuda/step_switches.h).
  bool prefetch_unit = false;
};

// How the launch splits the rows; a pure function of the shape so callers can size the workspace up front.
struct SparseMlpDownPlan {
  int col_blocks = 0;             // 512-column slices
  int splits = 1;                 // row splits per slice; 1 means no workspace traffic
  size_t workspace_bytes = 0;     // 0 when splits == 1; else kSplitSumMaxRows*d fixed-point sums (fixed_sum.cuh)
                                  // + one int counter per slice, + (ordered) the partials area at
                                  // sparse_mlp_down_partials_offset
};

// Byte offset of the ordered scheme's partials area [splits][B][d] fp32 in the workspace: after the fixed
// scheme's sums (sized for kSplitSumMaxRows rows, fixed_sum.cuh) and counters, 16-byte aligned.
__host__ __device__ inline size_t sparse_mlp_down_partials_offset(int d, int col_blocks) {
  return (static_cast<size_t>(kSplitSumMaxRows) * d * sizeof(FixedSum) + static_cast<size_t>(col_blocks) * sizeof(int) +
          15) / 16 * 16;
}

// target_units: how many units to aim for (0: kSparseMlpDownTargetUnits; the persistent path: a few per CTA).
// The splits do not depend on ordered_sums (only the workspace does), so an A/B of the schemes is like for like.
SparseMlpDownPlan plan_sparse_mlp_down(int B, int d, int max_k, int rows_per_index, int target_units = 0,
                                       bool ordered_sums = false);
inline size_t sparse_mlp_down_workspace_bytes(int B, int d, int max_k, int rows_per_index, int target_units = 0,
                                              bool ordered_sums = false) {
  return plan_sparse_mlp_down(B, d, max_k, rows_per_index, target_units, ordered_sums).workspace_bytes;
}

// Throws dv::Error on bad sizes or pointers (and a missing workspace where `plan` needs one).
void check_sparse_mlp_down_args(const SparseMlpDownArgs& args, const SparseMlpDownPlan& plan);
void launch_sparse_mlp_down(const SparseMlpDownArgs& args, cudaStream_t stream);

}  // namespace dv::kernels
