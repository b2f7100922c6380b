// cublas_ops.h: the dense engine's matrix work, batch rows times a weight, through cublasGemmEx with fp16
// operands and fp32 accumulation (CUBLAS_COMPUTE_32F), on the handle's stream. Row-major names for what
// cuBLAS sees column-major:
//   linear         out[B, n_out] = x[B, n_in] W^T, W [n_out, n_in] as Hugging Face stores nn.Linear
//   linear_t       out[B, n_out] = x[B, n_in] WT,  WT [n_in, n_out] (the engine's transposed fc2 and W_o,
//                  shared with the sparse kernels so the dense path needs no second copy)
// out is fp16 or fp32 (logits).
#pragma once

#include <cublas_v2.h>
#include <cuda_fp16.h>

namespace dv::engine {

void linear(cublasHandle_t handle, __half* out, const __half* x, const __half* w, int batch, int n_out, int n_in);
void linear_f32_out(cublasHandle_t handle, float* out, const __half* x, const __half* w, int batch, int n_out,
                    int n_in);
void linear_t(cublasHandle_t handle, __half* out, const __half* x, const __half* wt, int batch, int n_out, int n_in);

// Prefill attention of one sequence over `heads` heads (cublasGemmStridedBatchedEx, fp32 accumulation):
//   attention_scores  scores[h] (fp32 [T, T] row-major) = Q[h] K[h]^T; Q [heads, T, hd] contiguous, K[h] the
//                     first T rows of head h's cache (head_stride elements between heads);
//   attention_values  out[t, h * hd + i] = sum_j P[h][t][j] V[h][j][i], P fp16 [heads, T, T], out rows ld_out
//                     apart (the [T, H * hd] layout the out-projection GEMM reads).
void attention_scores(cublasHandle_t handle, float* scores, const __half* q, const __half* k, int heads, int tokens,
                      int head_dim, long long head_stride);
void attention_values(cublasHandle_t handle, __half* out, int ld_out, const __half* p, const __half* v, int heads,
                      int tokens, int head_dim, long long head_stride);

}  // namespace dv::engine
