// engine_context.cpp: stream, handle and workspace setup and teardown.
#include "engine/cuda/engine_context.h"

#include <cstdlib>
#include <cstring>

#include "kernels/common/cuda_check.h"

namespace dv::engine {

namespace {
// cuBLAS's recommended workspace on Hopper is 32 MiB; a fixed one keeps graph capture allocation-free.
constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;
}  // namespace

EngineContext::EngineContext(int device) : device_(device) {
  DV_CHECK(cuda_device_available(), "CUDA engine: no CUDA GPU is available on this machine");
  DV_CUDA_CHECK(cudaSetDevice(device_));
  DV_CUDA_CHECK(cudaDeviceGetAttribute(&num_sms_, cudaDevAttrMultiProcessorCount, device_));
  // The side stream's predictors run at the main stream's priority. At the highest priority (their CTAs
  // scheduled ahead of the main stream's pending ones; DEJAVU_SIDE_PRIORITY=high, an A/B switch for
  // scripts/device/step_decode.sh) the sparse step with predictors was 4-6 % slower on every shape (H100,
  // results/h100/2026-12-07_497a573: opt-13b x2.01 against x2.10 over dense): a high-priority grid of many CTAs
  // (the MLP predictor's scores: 1,280 on opt-13b) holds back the main stream's wave-sized grids. CUDA graphs
  // keep the priority: captured kernel nodes carry their stream's, and cuda_graph.cpp instantiates with
  // cudaGraphInstantiateFlagUseNodePriority.
  int least = 0, greatest = 0;
  DV_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  const char* side_env = std::getenv("DEJAVU_SIDE_PRIORITY");
  const bool high = side_env != nullptr && std::strcmp(side_env, "high") == 0;
  DV_CHECK(side_env == nullptr || *side_env == '\0' || high || std::strcmp(side_env, "equal") == 0,
           "DEJAVU_SIDE_PRIORITY='{}': expected equal (the default) or high", side_env);
  if (!high) greatest = least;
  side_priority_ = greatest;
  DV_CUDA_CHECK(cudaStreamCreateWithPriority(&main_, cudaStreamNonBlocking, least));
  DV_CUDA_CHECK(cudaStreamCreateWithPriority(&side_, cudaStreamNonBlocking, greatest));
  DV_CUBLAS_CHECK(cublasCreate(&cublas_));
  DV_CUDA_CHECK(cudaMalloc(&cublas_workspace_, kCublasWorkspaceBytes));
  DV_CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_workspace_, kCublasWorkspaceBytes));
  DV_CUBLAS_CHECK(cublasSetStream(cublas_, main_));
}

EngineContext::~EngineContext() {
  // Teardown must not throw: errors here are ignored (the process is usually exiting or unwinding).
  if (main_ != nullptr) (void)cudaStreamSynchronize(main_);
  if (side_ != nullptr) (void)cudaStreamSynchronize(side_);
  if (cublas_ != nullptr) (void)cublasDestroy(cublas_);
  if (cublas_workspace_ != nullptr) (void)cudaFree(cublas_workspace_);
  if (side_ != nullptr) (void)cudaStreamDestroy(side_);
  if (main_ != nullptr) (void)cudaStreamDestroy(main_);
}

void EngineContext::synchronize() const {
  DV_CUDA_CHECK(cudaStreamSynchronize(side_));
  DV_CUDA_CHECK(cudaStreamSynchronize(main_));
}

bool cuda_device_available() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return count > 0;
}

}  // namespace dv::engine
