// tiled_qkv.h: the sparse step's copies of each layer's w_qkv in sparse_qkv's tiled layout
// (SparseQkvArgs::tiled_weights: every 16-row x 32-column block one contiguous KB, so a warp's weight load reads
// 512 contiguous bytes instead of 8 rows x 64 bytes). The row-major w_qkv stays for the dense step, prefill
// (cuBLAS) and the persistent path; the copies live with the sparse state (set_sparse .. clear_sparse).
// Measured (H100, 24def80, results/h100/2026-12-07_24def80): kernel_bench sparse_qkv opt-13b heads 50 % B = 1
// 38.7 -> 34.9 us, heads 100 % 71.1 -> 62.3 us (73 -> 84 % of copy); the step's sparse + predictors opt-30b
// 8.000 -> 7.762 ms, sparse fixed opt-13b 3.742 -> 3.642 ms.
#pragma once

#include <vector>

#include <ATen/ATen.h>

#include "engine/cuda/gpu_weights.h"

namespace dv::engine {

// Device memory that must stay free after the copies: the larger of 1 GiB and 5 % of the device.
size_t tiled_qkv_reserve_bytes(size_t total_bytes);

// [layers]: layer l's tiled copy, or an undefined tensor where it is off (DEJAVU_QKV_TILED=0) or did not fit:
// layers are copied in order while the free memory stays above tiled_qkv_reserve_bytes, so a model that
// nearly fills the device keeps the row-major path for its last layers instead of failing.
std::vector<at::Tensor> make_tiled_qkv(const GpuWeights& w);

}  // namespace dv::engine
