// cublas_ops.cpp: cublasGemmEx calls; see cublas_ops.h for the layouts.
#include "engine/cuda/cublas_ops.h"

#include <library_types.h>

#include "kernels/common/cuda_check.h"

namespace dv::engine {
namespace {

void gemm(cublasHandle_t handle, cublasOperation_t op_w, void* out, cudaDataType out_type, const __half* x,
          const __half* w, int batch, int n_out, int n_in) {
  DV_CHECK(batch > 0 && n_out > 0 && n_in > 0, "gemm: bad sizes batch={} n_out={} n_in={}", batch, n_out, n_in);
  const float alpha = 1.f, beta = 0.f;
  // Column-major: C [n_out, batch] = op(A) [n_out, n_in] * X [n_in, batch].
  const int lda = op_w == CUBLAS_OP_T ? n_in : n_out;
  DV_CUBLAS_CHECK(cublasGemmEx(handle, op_w, CUBLAS_OP_N, n_out, batch, n_in, &alpha, w, CUDA_R_16F, lda, x,
                               CUDA_R_16F, n_in, &beta, out, out_type, n_out, CUBLAS_COMPUTE_32F,
                               CUBLAS_GEMM_DEFAULT));
}

}  // namespace

void linear(cublasHandle_t handle, __half* out, const __half* x, const __half* w, int batch, int n_out, int n_in) {
  gemm(handle, CUBLAS_OP_T, out, CUDA_R_16F, x, w, batch, n_out, n_in);
}

void linear_f32_out(cublasHandle_t handle, float* out, const __half* x, const __half* w, int batch, int n_out,
                    int n_in) {
  gemm(handle, CUBLAS_OP_T, out, CUDA_R_32F, x, w, batch, n_out, n_in);
}

void linear_t(cublasHandle_t handle, __half* out, const __half* x, const __half* wt, int batch, int n_out, int n_in) {
  gemm(handle, CUBLAS_OP_N, out, CUDA_R_16F, x, wt, batch, n_out, n_in);
}

void attention_scores(cublasHandle_t handle, float* scores, const __half* q, const __half* k, int heads, int tokens,
                      int head_dim, long long head_stride) {
  DV_CHECK(heads > 0 && tokens > 0 && head_dim > 0, "attention_scores: bad sizes heads={} tokens={} hd={}", heads,
           tokens, head_dim);
  const float alpha = 1.f, beta = 0.f;
  // Column-major: S^T [T_k, T_q] = K (as [hd, T_k], transposed) * Q (as [hd, T_q]) = row-major S [T_q, T_k].
  DV_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      handle, CUBLAS_OP_T, CUBLAS_OP_N, tokens, tokens, head_dim, &alpha, k, CUDA_R_16F, head_dim, head_stride, q,
      CUDA_R_16F, head_dim, static_cast<long long>(tokens) * head_dim, &beta, scores, CUDA_R_32F, tokens,
      static_cast<long long>(tokens) * tokens, heads, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void attention_values(cublasHandle_t handle, __half* out, int ld_out, const __half* p, const __half* v, int heads,
                      int tokens, int head_dim, long long head_stride) {
  DV_CHECK(heads > 0 && tokens > 0 && head_dim > 0 && ld_out >= heads * head_dim,
           "attention_values: bad sizes heads={} tokens={} hd={} ld_out={}", heads, tokens, head_dim, ld_out);
  const float alpha = 1.f, beta = 0.f;
  // Column-major: O^T [hd, T_q] = V (as [hd, T_k]) * P^T (P row-major [T_q, T_k] is [T_k, T_q] column-major).
  DV_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      handle, CUBLAS_OP_N, CUBLAS_OP_N, head_dim, tokens, tokens, &alpha, v, CUDA_R_16F, head_dim, head_stride, p,
      CUDA_R_16F, tokens, static_cast<long long>(tokens) * tokens, &beta, out, CUDA_R_16F, ld_out, head_dim, heads,
      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace dv::engine
