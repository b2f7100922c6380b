// tiled_qkv.cpp: see tiled_qkv.h.
#include "engine/cuda/tiled_qkv.h"

#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>

#include <algorithm>

#include "engine/cuda/step_switches.h"
#include "engine/cuda/tensor_ptr.h"
#include "kernels/common/cuda_check.h"
#include "kernels/sparse_qkv/sparse_qkv.cuh"

namespace dv::engine {

size_t tiled_qkv_reserve_bytes(size_t total_bytes) { return std::max<size_t>(size_t{1} << 30, total_bytes / 20); }

std::vector<at::Tensor> make_tiled_qkv(const GpuWeights& w) {
  std::vector<at::Tensor> tiled(w.layers.size());
  if (!qkv_tiled() || w.layers.empty()) return tiled;
  // A shape sparse_qkv does not take (d % 32 != 0, rows not in 16-row slices) never reaches the op: nothing to
  // tile. Every layer has layer 0's shape.
  const at::Tensor& first = w.layers[0].w_qkv;
  if (first.size(-1) % 32 != 0 || (first.numel() / first.size(-1)) % 16 != 0) return tiled;
  // Blocks LibTorch's allocator caches (e.g. an earlier sparse state's copies) are free for these copies too, but
  // cudaMemGetInfo counts them as used: hand them back first.
  c10::cuda::CUDACachingAllocator::emptyCache();
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const at::Tensor& rows = w.layers[l].w_qkv;
    const size_t bytes = static_cast<size_t>(rows.numel()) * sizeof(__half);
    size_t free_bytes = 0, total_bytes = 0;
    DV_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    if (free_bytes < bytes + tiled_qkv_reserve_bytes(total_bytes)) break;
    tiled[l] = at::empty_like(rows);
    const int d = static_cast<int>(rows.size(-1));
    // The legacy stream, like the weights' upload; the sparse state's first use synchronizes after set_sparse.
    launch_tile_qkv_weights(half_ptr(tiled[l]), half_ptr(rows), static_cast<int>(rows.numel() / d), d, nullptr);
  }
  DV_CUDA_CHECK(cudaDeviceSynchronize());
  return tiled;
}

}  // namespace dv::engine
