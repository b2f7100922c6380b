// sparse_mlp_up.cuh: fc1 + bias + ReLU over a selection of neurons, in one kernel.
//   h[b, j] = ReLU(dot(W1[idx[j], :], x[b, :]) + b1[idx[j]])   for j < k, b < B
// W1 is fc1 as Hugging Face stores it, [ffn, d] row-major fp16; h is compact, [B, ld_h] with ld_h >= max_k.
// k lives on the device (k_dev) so a predictor can produce it inside the same CUDA graph; the grid is sized
// from the host bound max_k and blocks past k exit at once. Entries h[b, j] for j >= k are left untouched.
// idx may be unsorted and may repeat; entries idx[j] for j >= k are never read.
//
// Access pattern (see row_dot.cuh): each selected row is read once with 16-byte streaming loads for all B
// rows of x (tensor-core MMA, fp32 accumulation), 8/16/32 selected rows per block for B <= 8/16/32.
// Bytes that must move: k*d*2 (W1 rows) + k*2 (b1) + k*4 (idx) + B*d*2 (x) + B*k*2 (h).
// Requirements (checked, dv::Error): 1 <= B <= 32, d % 8 == 0, W1 and x 16-byte aligned, ld_h >= max_k.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include "kernels/common/l2_warmup.cuh"

namespace dv::kernels {

struct SparseMlpUpArgs {
  __half* h = nullptr;           // out: [B, ld_h]
  const __half* x = nullptr;     // [B, d]; with ln_gamma, the residual stream the op normalizes first
  // The MLP's layer norm fused (ln_gamma and ln_beta [d], 16-byte aligned, or both nullptr): every block computes
  // the B rows' statistics from x and normalizes each x vector it loads (row_dot.cuh, kLn), the formula of
  // sparse_qkv's fused layer norm (qkv_layer_norm.cuh), so no layer_norm kernel runs before the op.
  const __half* ln_gamma = nullptr;
  const __half* ln_beta = nullptr;
  float ln_eps = 1e-5f;          // OPT's layer_norm_eps
  // With ln_gamma, optional: x's producer's per-slice (sum, sum of squares), [ln_partial_blocks][B][2] fp32
  // (sparse_mlp_down's row_partials), summed in slice order for the statistics instead of a pass over x.
  const float* ln_row_partials = nullptr;
  int ln_partial_blocks = 0;
  const __half* w1 = nullptr;    // [ffn, d]
  const __half* b1 = nullptr;    // [ffn], or nullptr for no bias
  const int* idx = nullptr;      // [max_k] selected neurons, each in [0, ffn)
  const int* k_dev = nullptr;    // device int: number of valid idx entries (clamped to [0, max_k]); nullptr: max_k
  int B = 0;
  int d = 0;
  int ffn = 0;                   // rows of W1 (the reference checks idx against it)
  int max_k = 0;                 // capacity of idx, host bound for the grid
  int ld_h = 0;                  // leading dimension of h (elements)
  // A/B variant for kernel_bench (`up+pipe`), the same bits: the k loop software-pipelined in registers (rounds
  // of half the default's chunks, the next round's weight loads issued before this round's MMAs; row_dot.cuh).
  bool pipelined = false;
  // Optional: blocks in front that prefetch the next op's weights into L2 while the op streams its rows
  // (l2_warmup.cuh; the decode step passes the down projection's fc2 rows at the same neurons), at most half of
  // warm_sms SMs. They start after the op's PDL wait, with its row blocks.
  L2Warmup warm_next;
  int warm_sms = 0;
};

void launch_sparse_mlp_up(const SparseMlpUpArgs& args, cudaStream_t stream);

}  // namespace dv::kernels
