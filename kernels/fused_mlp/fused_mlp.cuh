// fused_mlp.cuh: the whole MLP block over a selection of neurons in one op, fc1 + ReLU + fc2 of the same
// neuron slice in one unit, the block's layer norm fused in:
//   xn[b]    = LN(x[b]) = (x[b] - mean) / sqrt(var + eps) * gamma + beta, rounded to fp16   (or x[b] as is)
//   h[b, j]  = ReLU(W1[row(j)] . xn[b] + b1[row(j)]), rounded to fp16,      j < k,  row(j) = idx ? idx[j] : j
//   out[b]   = resid[b] + b2 + sum_j h[b, j] * W2T[row(j)]                  (fp32 sums, one fp16 rounding)
// W1 is fc1 [ffn, d] and W2T is fc2 transposed [ffn, d] (both row-major fp16), so a neuron's weights are two
// contiguous rows. idx == nullptr is the identity selection: the dense MLP through the same op (k = max_k).
// idx may be unsorted and may repeat (a repeated neuron counts twice); idx[j >= k] is never read. k lives on
// the device (k_dev, clamped to [0, max_k]) so a predictor can write it inside a CUDA graph.
// With resid and b2 null, out is the bare fc2 partial sum (a tensor-parallel rank's share before its
// all-reduce). out must not alias x or resid: every unit reads x while others already write out.
//
// Work split (kernels/common/work_units.cuh): unit u owns neurons [u*k/U, (u+1)*k/U) of the selection, U the
// plan's unit count (<= 2 per SM, so one wave). A unit
//   1. before the PDL wait: copies its slice of idx (and b1 at those rows) to shared memory, issues its first
//      W1 loads into registers and prefetches gamma/beta into L1 (nothing there depends on the previous op);
//   2. copies x [B, d] into shared memory (one L2 read per unit) and, with LN, normalizes it there (two-pass
//      fp32 statistics, as the layer_norm kernel);
//   3. fc1: its 8 warps split the slice's 8-neuron tiles and d (W_n x W_d = 8); each lane streams 16-byte
//      loads of one W1 row (double-buffered in registers: 8 loads in flight) against xn from shared memory
//      on the tensor cores (mma m16n8k16, fp32); bias + ReLU -> h [B, slice] fp16 in shared memory;
//   4. fc2: warps walk 64-column chunks of d (rotated by unit), each reading the slice's W2T rows (16-byte
//      loads, 4 rows per lane transposed into k-pairs with byte permutes) against h, and add the fp32 result
//      into the workspace [B, d] as 64-bit fixed-point reductions (kernels/common/fixed_sum.cuh: the sum's
//      bits do not depend on the order the units arrive in);
//   5. per 64-column chunk, an arrival counter: the warp that brings it to U (the last unit through that
//      chunk) adds b2 + resid, writes out in fp16, and zeroes the chunk's workspace and counter.
// The ordered split sums (args.ordered_sums; the engine's DEJAVU_SPLIT_SUM=ordered) replace 4 and 5's
// reductions: each unit stores its fp32 partials with plain 16-byte stores into its own rows of a partials
// area [U][B][d] (after the fixed scheme's sums and counters, which stay zero), and the unit that completes a
// chunk's count sums the non-empty units' partials in unit order (fixed: the same bits whatever the arrival
// order). That reads U*B*64*4 bytes a chunk, too many loads for one warp, so the unit lists the chunks it
// completed in shared memory and its whole CTA finalizes them, threads summing fixed ranges of units that are
// then added in range order. Costs U*B*d*4 bytes of L2 stores and the same read back, against U*B*d*8 of
// fixed-point reductions.
// Why last arrivers per chunk and not a consumer that reads the fp32 sums: the op that finishes the block
// writes the residual stream (the next block's ops, the predictors and the next residual add read it as fp16,
// and it stays one buffer per snapshot). The finalizing is spread: every unit walks the chunks in its own
// rotated order, so the last arrivals of the d/64 chunks fall on the units of the last wave roughly evenly
// (units are equal work), never on one CTA: at batch 1 and opt-13b a chunk's finalizing reads 256 bytes of
// fp32 sums and 128 of resid and writes 128, against 164 KB of weights each of its 128 units streams. A
// separate finalize kernel would add a kernel boundary (~1.3 us measured per boundary by Hazy Research); a
// consumer-side finalize would need every consumer of the residual stream to read fp32 and the workspace to
// be double-buffered and cleared by a later op.
// Reduction traffic: each non-empty unit adds B*d*4 bytes into L2 against 4*S*d bytes of weights (slice S):
// the plan keeps S >= max(16, 2B) where it can without dropping under one unit per SM (ratio B/S <= 1/2).
//
// Bytes that must move (the number kernel_bench divides by):
//   k*d*2 (W1 rows) + k*d*2 (W2T rows) + k*2 (b1) + k*4 (idx) + B*d*2 (x) + 2*d*2 (gamma, beta) + d*2 (b2)
//   + B*d*2 (resid) + B*d*2 (out); plus, in L2 only, U*B*d*2 of x copies and U*B*d*8 of fixed-point
//   reductions (ordered: U*B*d*4 stored and read back).
// Requirements (checked, dv::Error): 1 <= B <= 32, d % 8 == 0, W1/W2T/x/resid/b2/out/gamma/beta 16-byte
// aligned, out not aliasing x or resid, the workspace of fused_mlp_workspace_bytes() (ordered: with the
// plan's units, and d <= kFusedMlpOrderedMaxD) zeroed once; LN fused
// only where fused_mlp_ln_fits(B, d) (x staged in shared memory: B*(d+32)*2 bytes <= ~80 KB; otherwise
// normalize first and pass the normalized rows as x with gamma = nullptr).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include "kernels/common/fixed_sum.cuh"

#include <cstddef>

namespace dv::kernels {

struct FusedMlpArgs {
  __half* out = nullptr;           // out: [B, d]
  void* workspace = nullptr;       // fused_mlp_workspace_bytes(B, d); zero once, left zero by every launch
  const __half* x = nullptr;       // [B, d]: the block input (residual stream when LN is fused)
  const __half* gamma = nullptr;   // [d] LN weight, or nullptr: x is used as is
  const __half* beta = nullptr;    // [d] LN bias (with gamma)
  float eps = 1e-5f;               // OPT's layer_norm_eps
  const __half* w1 = nullptr;      // [ffn, d] fc1
  const __half* b1 = nullptr;      // [ffn], or nullptr
  const __half* w2t = nullptr;     // [ffn, d] fc2 transposed
  const __half* b2 = nullptr;      // [d], or nullptr
  const __half* resid = nullptr;   // [B, d], or nullptr; may equal x
  const int* idx = nullptr;        // [max_k] selected neurons in [0, ffn), or nullptr: neurons 0..max_k-1
  const int* k_dev = nullptr;      // device count of valid idx entries; nullptr: max_k
  int B = 0;
  int d = 0;
  int ffn = 0;                     // rows of W1 / W2T (the reference checks idx against it)
  int max_k = 0;                   // capacity of idx (<= ffn when idx is null)
  int num_sms = 0;                 // the plan's SM count; 0: the current device's
  bool ordered_sums = false;       // units combined through ordered fp32 partials, not fixed-point reductions
};

// Units and slices of one launch; a pure function of the shape, so the persistent kernel and the workspace
// sizing agree with the plain launch.
struct FusedMlpPlan {
  int units = 0;       // U, the grid (>= 1: with k = 0 one unit still writes out = resid + b2)
  int slice_max = 0;   // ceil(max_k / U) <= kFusedMlpSliceCap
  int batch_tile = 8;  // 8, 16 or 32 rows of x per MMA tile
  bool stage_x = false;  // x fits shared memory (required for the fused LN)
};

constexpr int kFusedMlpSliceCap = 256;  // neurons per unit (shared memory for idx, b1 and h)
constexpr int kFusedMlpColChunk = 64;   // fc2 output columns per warp pass, and per arrival counter
// The ordered scheme lists a unit's completed chunks where idx and b1 were (2 * kFusedMlpSliceCap ints).
constexpr int kFusedMlpOrderedMaxD = 2 * kFusedMlpSliceCap * kFusedMlpColChunk;

// Byte offset of the ordered scheme's partials area [U][B][d] fp32: after the fixed scheme's sums (sized for
// kSplitSumMaxRows rows, fixed_sum.cuh) and chunk counters, 16-byte aligned.
__host__ __device__ inline size_t fused_mlp_partials_offset(int d) {
  const size_t chunks = static_cast<size_t>((d + kFusedMlpColChunk - 1) / kFusedMlpColChunk);
  return (static_cast<size_t>(kSplitSumMaxRows) * d * sizeof(FixedSum) + chunks * sizeof(int) + 15) / 16 * 16;
}

FusedMlpPlan plan_fused_mlp(int B, int d, int max_k, int num_sms);
// B*d fixed-point sums + one counter per 64-column chunk; with ordered_units > 0 (the plan's units, for the
// ordered scheme) also the partials area. The plan's units grow with max_k, so ffn's plan covers any selection.
size_t fused_mlp_workspace_bytes(int B, int d, int ordered_units = 0);
bool fused_mlp_ln_fits(int B, int d);

// Throws dv::Error on the requirements above (launch_fused_mlp runs it; the persistent path on its op).
void check_fused_mlp_args(const FusedMlpArgs& args);
void launch_fused_mlp(const FusedMlpArgs& args, cudaStream_t stream);

}  // namespace dv::kernels
