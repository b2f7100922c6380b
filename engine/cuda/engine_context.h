// engine_context.h: what every decode launch needs and nothing global holds: the device, the main stream (the
// lowest priority), the side stream the predictors run on (one block ahead, joined by events; the highest
// priority, so prediction stays off the critical path), and the cuBLAS handle with a fixed workspace so that
// cuBLAS allocates nothing while a CUDA graph is being captured.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

namespace dv::engine {

class EngineContext {
 public:
  explicit EngineContext(int device = 0);
  ~EngineContext();
  EngineContext(const EngineContext&) = delete;
  EngineContext& operator=(const EngineContext&) = delete;

  int device() const { return device_; }
  int num_sms() const { return num_sms_; }
  cudaStream_t main() const { return main_; }
  cudaStream_t side() const { return side_; }
  int side_priority() const { return side_priority_; }  // numerically lower = higher priority
  cublasHandle_t cublas() const { return cublas_; }
  // Blocks until both streams are idle; surfaces any asynchronous fault.
  void synchronize() const;

 private:
  int device_ = 0;
  int num_sms_ = 0;
  int side_priority_ = 0;
  cudaStream_t main_ = nullptr;
  cudaStream_t side_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  void* cublas_workspace_ = nullptr;
};

// True when a CUDA device is usable (clears the error a failed query leaves behind).
bool cuda_device_available();

}  // namespace dv::engine
