// dev_array.h: kernel_bench's owning device array (cudaMalloc'd, at least one element, synchronous copies).
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>
#include <vector>

#include "kernels/common/cuda_check.h"

namespace dv::bench {

template <class T>
class DevArray {
 public:
  explicit DevArray(size_t n) : n_(n) {
    DV_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p_), std::max<size_t>(n, 1) * sizeof(T)));
  }
  ~DevArray() { (void)cudaFree(p_); }
  DevArray(const DevArray&) = delete;
  DevArray& operator=(const DevArray&) = delete;
  T* get() const { return p_; }
  size_t size() const { return n_; }
  std::vector<T> download(size_t n) const {
    std::vector<T> h(n);
    DV_CUDA_CHECK(cudaMemcpy(h.data(), p_, n * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }
  void upload(const std::vector<T>& h) const {
    DV_CHECK(h.size() <= n_, "DevArray::upload: {} elements into {}", h.size(), n_);
    DV_CUDA_CHECK(cudaMemcpy(p_, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  void zero() const { DV_CUDA_CHECK(cudaMemset(p_, 0, std::max<size_t>(n_, 1) * sizeof(T))); }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace dv::bench
