// device_alloc.h: the engine's large device allocations, with CUDA out-of-memory turned into one dv::Error
// line that says what was asked (the buffer, its shape, the batch, the bytes) against what the device has free
// (cudaMemGetInfo), instead of LibTorch's multi-line allocator report.
#pragma once

#include <string>

#include <ATen/ATen.h>

namespace dv::engine {

// at::zeros / at::empty on the current CUDA device; `what` names the buffer in the error.
at::Tensor device_zeros(at::IntArrayRef sizes, at::ScalarType dtype, const std::string& what, int batch);
at::Tensor device_empty(at::IntArrayRef sizes, at::ScalarType dtype, const std::string& what, int batch);

// The error line for `bytes` asked by `what` (also used for whole-model uploads).
[[noreturn]] void fail_out_of_memory(const std::string& what, const std::string& shape, int batch, double bytes);

}  // namespace dv::engine
