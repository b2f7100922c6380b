// layer_norm.cuh: LayerNorm over rows of width d, optionally fused with the residual add that precedes it.
// Why the fusion: in the decode step every LN follows a residual add (dense engine: cuBLAS GEMM output + bias
// + residual stream), so one kernel reads the three inputs once, writes the new residual stream and its LN.
//
//   s = x (+ residual) (+ bias)          rounded to fp16, as PyTorch's fp16 residual add does
//   sum_out = s                          (when sum_out != nullptr and a residual or bias is given)
//   y = (s - mean(s)) / sqrt(var(s) + eps) * gamma + beta      (fp32 statistics, biased variance)
//
// Access pattern: one block per row; each thread keeps up to 8 vectors of 8 fp16 (16-byte loads/stores) in
// registers, so each input is read once and each output written once: rows * d * 2 bytes per input/output
// plus gamma/beta/bias (2 * d bytes each, L2 resident). Aliasing: y may alias x; sum_out may alias x or
// residual (every element is read and written by the same thread).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include "kernels/common/l2_warmup.cuh"

namespace dv {

struct LayerNormArgs {
  __half* y = nullptr;               // [rows, d] output
  __half* sum_out = nullptr;         // [rows, d] x + residual + bias, or nullptr (not written)
  const __half* x = nullptr;         // [rows, d]
  const __half* residual = nullptr;  // [rows, d] or nullptr
  const __half* bias = nullptr;      // [d] added with the residual, or nullptr
  const __half* gamma = nullptr;     // [d]
  const __half* beta = nullptr;      // [d]
  int rows = 0;                      // 0 launches nothing
  int d = 0;                         // multiple of 8, at most kLayerNormMaxWidth
  float eps = 1e-5f;                 // OPT's layer_norm_eps
};

// Widest row one block holds in registers (512 threads x 8 vectors x 8 halves).
constexpr int kLayerNormMaxWidth = 32768;

// Throws dv::Error on bad sizes or pointers not 16-byte aligned.
void launch_layer_norm(const LayerNormArgs& args, cudaStream_t stream);
// The same with warm units in front that prefetch `warm_next` into L2 (kernels/common/l2_warmup.cuh) while the
// one-CTA-a-row norm runs: the step passes the next op's weights. Rows wider than 12288 (no OPT) warm nothing.
void launch_layer_norm(const LayerNormArgs& args, const kernels::L2Warmup& warm_next, int num_sms,
                       cudaStream_t stream);

}  // namespace dv
