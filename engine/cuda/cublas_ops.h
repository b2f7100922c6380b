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

}  // namespace dv::engine
