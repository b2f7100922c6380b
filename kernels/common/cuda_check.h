// cuda_check.h: DV_CUDA_CHECK / DV_CUBLAS_CHECK / DV_CUDA_LAUNCH_CHECK, throwing dv::Error.
// Set DEJAVU_SYNC_CHECK=1 in the environment to synchronize after every launch while debugging,
// so an asynchronous fault is reported at the kernel that caused it. A synchronize cannot run inside a
// CUDA-graph capture, so engines run their steps uncaptured while the switch is on.
#pragma once

#include <cstdlib>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "kernels/common/error.h"

namespace dv {

inline void cuda_check(cudaError_t status, const char* what, const char* file, int line) {
  if (status != cudaSuccess)
    DV_FAIL("CUDA error {} ({}) in {} at {}:{}", cudaGetErrorName(status), cudaGetErrorString(status), what,
            file, line);
}

inline void cublas_check(cublasStatus_t status, const char* what, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS)
    DV_FAIL("cuBLAS error {} ({}) in {} at {}:{}", cublasGetStatusName(status), cublasGetStatusString(status),
            what, file, line);
}

inline bool sync_after_launch() {
  static const bool enabled = [] {
    const char* v = std::getenv("DEJAVU_SYNC_CHECK");
    return v != nullptr && v[0] == '1';
  }();
  return enabled;
}

inline void launch_check(const char* kernel, const char* file, int line) {
  cuda_check(cudaGetLastError(), kernel, file, line);
  if (sync_after_launch()) cuda_check(cudaDeviceSynchronize(), kernel, file, line);
}

}  // namespace dv

#define DV_CUDA_CHECK(expr) ::dv::cuda_check((expr), #expr, __FILE__, __LINE__)
#define DV_CUBLAS_CHECK(expr) ::dv::cublas_check((expr), #expr, __FILE__, __LINE__)
// After every kernel launch: reports launch-configuration errors at the launch site.
#define DV_CUDA_LAUNCH_CHECK(kernel_name) ::dv::launch_check(kernel_name, __FILE__, __LINE__)
