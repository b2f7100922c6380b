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

}  // namespace dv::engine
