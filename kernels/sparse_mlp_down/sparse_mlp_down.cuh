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
// Combining the splits: when splits > 1 each unit adds its fp32 partial sums into a workspace [B, d] of
// 64-bit fixed-point sums (kernels/common/fixed_sum.cuh: integer reductions, so the result's bits do not depend
// on the order the splits arrive in), and the last unit to finish a 512-column slice (an arrival counter per
// slice) adds bias and residual, writes out in fp16, and zeroes its slice of the workspace and its counter, so
// the workspace is all zero between launches (CUDA-graph safe, one launch).
// Bytes that must move: k*R*d*2 (W2T rows) + B*k*R*2 (h) + k*4 (idx) + d*2 (b2) + B*d*2 (resid) + B*d*2 (out),
// plus splits*B*d*8 of fixed-point reductions, mostly absorbed by L2 (the plan bounds them to <= 1/2 of the
// weight bytes at k = max_k).
// The same op runs in the persistent decode kernel (h, idx and k through the Sync's load policy).
// Requirements (checked, dv::Error): 1 <= B <= 32, d % 8 == 0, W2T/resid/b2/out 16-byte aligned,
// ld_h >= max_k * R with ld_h % 4 == 0 and h 8-byte aligned, a workspace of
// sparse_mlp_down_workspace_bytes() zeroed once after allocation.
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
};

// How the launch splits the rows; a pure function of the shape so callers can size the workspace up front.
struct SparseMlpDownPlan {
  int col_blocks = 0;             // 512-column slices
  int splits = 1;                 // row splits per slice; 1 means no workspace traffic
  size_t workspace_bytes = 0;     // B*d fixed-point sums (fixed_sum.cuh) + one int counter per slice, 0 when splits == 1
};

// target_units: how many units to aim for (0: kSparseMlpDownTargetUnits; the persistent path: a few per CTA).
SparseMlpDownPlan plan_sparse_mlp_down(int B, int d, int max_k, int rows_per_index, int target_units = 0);
inline size_t sparse_mlp_down_workspace_bytes(int B, int d, int max_k, int rows_per_index, int target_units = 0) {
  return plan_sparse_mlp_down(B, d, max_k, rows_per_index, target_units).workspace_bytes;
}

// Throws dv::Error on bad sizes or pointers (and a missing workspace where `plan` needs one).
void check_sparse_mlp_down_args(const SparseMlpDownArgs& args, const SparseMlpDownPlan& plan);
void launch_sparse_mlp_down(const SparseMlpDownArgs& args, cudaStream_t stream);

}  // namespace dv::kernels
