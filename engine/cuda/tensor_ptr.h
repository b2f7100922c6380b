// tensor_ptr.h: raw device pointers of LibTorch-owned buffers for the torch-free kernels, with the dtype
// checked once (a wrong dtype here would silently reinterpret bytes).
#pragma once

#include <cuda_fp16.h>

#include <ATen/ATen.h>

#include "kernels/common/error.h"

namespace dv::engine {

inline __half* half_ptr(const at::Tensor& t) {
  DV_CHECK(t.defined() && t.scalar_type() == at::kHalf && t.is_cuda() && t.is_contiguous(),
           "internal: expected a contiguous fp16 CUDA tensor");
  return reinterpret_cast<__half*>(t.data_ptr());
}
inline float* float_ptr(const at::Tensor& t) {
  DV_CHECK(t.defined() && t.scalar_type() == at::kFloat && t.is_cuda() && t.is_contiguous(),
           "internal: expected a contiguous fp32 CUDA tensor");
  return t.data_ptr<float>();
}
inline int* int_ptr(const at::Tensor& t) {
  DV_CHECK(t.defined() && t.scalar_type() == at::kInt && t.is_cuda() && t.is_contiguous(),
           "internal: expected a contiguous int32 CUDA tensor");
  return t.data_ptr<int>();
}

inline at::TensorOptions cuda_options(at::ScalarType dtype) {
  return at::TensorOptions().dtype(dtype).device(at::kCUDA);
}

}  // namespace dv::engine
